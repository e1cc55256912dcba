/**
 * Rewrites of Bull Board's `index.html` (@bull-board/ui 9 renders it from a template we do not
 * own, so the served page is patched rather than forked: a forked template would break on every
 * UI release, whose asset names are hashed into it).
 */

/**
 * `<link>` elements that load from another host. Bull Board links Google Fonts: a request a
 * locked-down cluster blocks (the page then waits on it) and that tells a third party who opened
 * the board. Without it the UI falls back to its `sans-serif` / `monospace` stacks.
 */
const EXTERNAL_LINK = /<link\b[^>]*\bhref\s*=\s*["']?(?:https?:)?\/\/[^>]*>\s*/gi;

/**
 * Opened as `http://admin:<token>@host/admin/queues`, Chromium keeps the credentials in
 * `document.URL` and so in every URL resolved against the page, and `fetch()` refuses such a URL.
 * The board loads its translations with `fetch`, so every label showed as its key
 * (`QUEUE.STATUS.ALL`) while the XHR-based job lists worked. Reloading the same page without the
 * credentials fixes it: the browser has cached them for the board by then and sends them itself.
 */
const DROP_URL_CREDENTIALS =
  '<script>{const u=new URL(document.URL);if(u.username||u.password){u.username="";u.password="";location.replace(u.href)}}</script>';

/** The board's page without external requests and with the credentials fix first in `<head>`. */
export function rewriteBoardHtml(html: string): string {
  return html.replace(EXTERNAL_LINK, "").replace(/<head>/i, `<head>${DROP_URL_CREDENTIALS}`);
}
