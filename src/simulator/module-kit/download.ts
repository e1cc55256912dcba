import { request } from "undici";

/** Result of downloading a URL the way an upstream service would before accepting it. */
export type DownloadResult =
  | { ok: true; status: number; contentType: string | undefined; bytes: Buffer }
  | { ok: false; reason: string };

/** Limits for one download. */
export interface DownloadOptions {
  /** Real milliseconds (not simulated): the network does not run faster when the simulator does. */
  timeoutMs: number;
  /** Bodies larger than this are refused rather than buffered, so a bad URL cannot exhaust memory. */
  maxBytes: number;
  /** `HEAD` checks reachability only; `GET` reads the body. */
  method?: "GET" | "HEAD";
}

/** Downloads `url`; every failure (bad URL, refused connection, timeout, non-2xx, too big) is a value. */
export async function download(url: string, options: DownloadOptions): Promise<DownloadResult> {
  const parsed = httpUrl(url);
  if (typeof parsed === "string") return { ok: false, reason: parsed };
  const method = options.method ?? "GET";
  const signal = AbortSignal.timeout(options.timeoutMs);
  try {
    const response = await request(parsed, { method, signal });
    const contentType = headerValue(response.headers["content-type"]);
    if (response.statusCode < 200 || response.statusCode > 299) {
      await response.body.dump();
      return { ok: false, reason: `source answered HTTP ${response.statusCode}` };
    }
    if (method === "HEAD") {
      await response.body.dump();
      return { ok: true, status: response.statusCode, contentType, bytes: Buffer.alloc(0) };
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of response.body) {
      const buf = chunk as Buffer;
      size += buf.length;
      if (size > options.maxBytes) {
        // destroy() makes undici emit an AbortError; nobody else listens, so swallow it here.
        response.body.on("error", () => undefined);
        response.body.destroy();
        return { ok: false, reason: `source is larger than ${options.maxBytes} bytes` };
      }
      chunks.push(buf);
    }
    return { ok: true, status: response.statusCode, contentType, bytes: Buffer.concat(chunks) };
  } catch (error) {
    return { ok: false, reason: `download failed: ${(error as Error).message}` };
  }
}

/** `url` parsed when it is an http(s) URL, else why it cannot be fetched. */
function httpUrl(url: string): URL | string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "not a valid URL";
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    return `unsupported scheme ${parsed.protocol}`;
  }
  return parsed;
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Checks that `url` can be downloaded without reading it: a GET for the first bytes. Not HEAD,
 * because a presigned S3 URL is signed for GET and answers HEAD with 403.
 */
export async function probe(
  url: string,
  timeoutMs: number,
): Promise<{ ok: true } | { ok: false; reason: string }> {
  const parsed = httpUrl(url);
  if (typeof parsed === "string") return { ok: false, reason: parsed };
  try {
    const response = await request(parsed, {
      method: "GET",
      headers: { range: "bytes=0-0" },
      signal: AbortSignal.timeout(timeoutMs),
    });
    // A server that ignores Range would stream the whole object: read at most a little, then drop
    // the connection (dump does that without the abort error a bare destroy() would emit).
    await response.body.dump({ limit: 64 * 1024 });
    if (response.statusCode < 200 || response.statusCode > 299) {
      return { ok: false, reason: `source answered HTTP ${response.statusCode}` };
    }
    return { ok: true };
  } catch (error) {
    return { ok: false, reason: `download failed: ${(error as Error).message}` };
  }
}
