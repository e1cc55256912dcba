import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Queue } from "bullmq";
import Fastify, { type FastifyInstance } from "fastify";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BOARD_PATH, BOARD_TITLE, registerBoard } from "../../src/http/board.js";
import { cleanupPrefix, testRedisUrl, uniquePrefix } from "../support/redis.js";

const TOKEN = "board-token-42";
/** Headless Chromium, when installed (`apt-get install chromium`); the browser test needs it. */
const CHROMIUM = [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser"].find(
  (path): path is string => path !== undefined && path !== "" && existsSync(path),
);
/** `src`/`href` attributes and CSS `url()`/`@import` that point at another host. */
const EXTERNAL_REFERENCE = /(?:\b(?:src|href)\s*=\s*["']?|url\(\s*["']?|@import\s+["']?)(?:https?:)?\/\//i;
const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

describe("Bull Board on fastify 5", () => {
  const prefix = uniquePrefix("board");
  let redis: Redis;
  let queues: Queue[];
  const apps: FastifyInstance[] = [];

  async function boardApp(options: { token?: string; readOnly?: boolean } = {}): Promise<FastifyInstance> {
    const app = Fastify();
    await registerBoard(app, {
      token: "token" in options ? options.token : TOKEN,
      readOnly: options.readOnly ?? true,
      queues,
    });
    await app.ready();
    apps.push(app);
    return app;
  }

  beforeAll(async () => {
    redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: 1 });
    queues = ["source-watch", "atom-push"].map((name) => new Queue(name, { connection: redis, prefix }));
    await queues[0]!.add("source-watch", { hello: "board" }, { jobId: "board-job-1" });
  });
  afterAll(async () => {
    for (const app of apps) await app.close();
    for (const queue of queues) await queue.close();
    await cleanupPrefix(prefix);
    await redis.quit();
  });

  it("serves the board's HTML with the bearer token or Basic admin:<API_TOKEN>", async () => {
    const app = await boardApp();
    for (const authorization of [`Bearer ${TOKEN}`, basic("admin", TOKEN)]) {
      const res = await app.inject({ url: BOARD_PATH, headers: { authorization } });
      expect(res.statusCode, authorization).toBe(200);
      expect(res.headers["content-type"]).toContain("text/html");
      expect(res.body).toMatch(/<html/i);
    }
  });

  it("asks a browser for Basic credentials and refuses wrong ones", async () => {
    const app = await boardApp();
    const anonymous = await app.inject({ url: BOARD_PATH });
    expect(anonymous.statusCode).toBe(401);
    expect(String(anonymous.headers["www-authenticate"])).toMatch(/Basic realm=/);
    for (const authorization of [basic("admin", "wrong"), basic("root", TOKEN), "Bearer wrong"]) {
      expect(
        (await app.inject({ url: BOARD_PATH, headers: { authorization } })).statusCode,
        authorization,
      ).toBe(401);
    }
    // The board's JSON API and static files are behind the same check.
    expect((await app.inject({ url: `${BOARD_PATH}/api/queues` })).statusCode).toBe(401);
  });

  it("stays closed when API_TOKEN is unset", async () => {
    const app = await boardApp({ token: undefined });
    const res = await app.inject({ url: BOARD_PATH, headers: { authorization: basic("admin", "") } });
    expect(res.statusCode).toBe(401);
    expect(res.json().error).toMatch(/API_TOKEN is unset/);
  });

  it("lists every queue, read-only unless BOARD_READ_ONLY=false", async () => {
    const readOnly = await boardApp();
    const res = await readOnly.inject({
      url: `${BOARD_PATH}/api/queues?activeQueue=source-watch&status=waiting&page=1`,
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(res.statusCode).toBe(200);
    const body = res.json<{
      queues: Array<{ name: string; readOnlyMode: boolean; jobs: Array<{ id: string }> }>;
    }>();
    expect(body.queues.map((q) => q.name).sort()).toEqual(["atom-push", "source-watch"]);
    expect(body.queues.every((q) => q.readOnlyMode)).toBe(true);
    expect(body.queues.find((q) => q.name === "source-watch")?.jobs.map((j) => j.id)).toContain(
      "board-job-1",
    );

    const writable = await boardApp({ readOnly: false });
    const res2 = await writable.inject({
      url: `${BOARD_PATH}/api/queues`,
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(
      res2.json<{ queues: Array<{ readOnlyMode: boolean }> }>().queues.every((q) => !q.readOnlyMode),
    ).toBe(true);
  });

  it("serves its page without any request to another host", async () => {
    const app = await boardApp();
    const headers = { authorization: basic("admin", TOKEN) };
    const page = await app.inject({ url: BOARD_PATH, headers });
    expect(page.statusCode).toBe(200);
    expect(page.body).not.toMatch(/fonts\.googleapis|fonts\.gstatic/);
    expect(page.body).not.toMatch(EXTERNAL_REFERENCE);
    expect(page.body).toContain(`<title>${BOARD_TITLE}</title>`);
    // The stylesheets the page links must not fetch fonts from elsewhere either.
    const sheets = [...page.body.matchAll(/<link\b[^>]*href="([^"]+\.css)"/g)].map((m) => m[1]!);
    expect(sheets.length).toBeGreaterThan(0);
    for (const sheet of sheets) {
      const css = await app.inject({ url: `${BOARD_PATH}/${sheet}`, headers });
      expect(css.statusCode, sheet).toBe(200);
      expect(css.body, sheet).not.toMatch(EXTERNAL_REFERENCE);
    }
  });

  it("answers its translations and API with Basic credentials", async () => {
    const app = await boardApp();
    const headers = { authorization: basic("admin", TOKEN) };
    const page = await app.inject({ url: BOARD_PATH, headers });
    // Opened with the credentials in the URL, the page first reloads itself without them, since
    // fetch() refuses URLs that carry credentials and the labels come through fetch().
    expect(page.body).toMatch(/<head><script>[^<]*u\.username=""[^<]*location\.replace/);
    const labels = await app.inject({ url: `${BOARD_PATH}/static/locales/en-US/messages.json`, headers });
    expect(labels.statusCode).toBe(200);
    expect(labels.json<{ QUEUE: { STATUS: { ALL: string } } }>().QUEUE.STATUS.ALL).toBeTruthy();
    const api = await app.inject({ url: `${BOARD_PATH}/api/queues?page=1&jobsPerPage=10`, headers });
    expect(api.statusCode).toBe(200);
    expect(api.json<{ queues: Array<{ name: string }> }>().queues.map((q) => q.name)).toContain(
      "source-watch",
    );
  });

  it.skipIf(CHROMIUM === undefined)(
    "shows its labels in a browser opened at admin:<API_TOKEN>@host, with other hosts unreachable",
    async () => {
      const app = await boardApp();
      const address = await app.listen({ host: "127.0.0.1", port: 0 });
      const url = new URL(BOARD_PATH, address);
      url.username = "admin";
      url.password = TOKEN;
      const profile = await mkdtemp(join(tmpdir(), "board-chromium-"));
      let dom: string;
      try {
        ({ stdout: dom } = await promisify(execFile)(
          CHROMIUM!,
          [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            `--user-data-dir=${profile}`,
            // A locked-down cluster: nothing but this worker resolves.
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            // Virtual time runs on only while the page is idle, so the board has rendered by then.
            "--virtual-time-budget=20000",
            "--dump-dom",
            url.href,
          ],
          { timeout: 90_000, maxBuffer: 16 * 1024 * 1024 },
        ));
      } finally {
        await rm(profile, { recursive: true, force: true });
      }
      expect(dom).toContain("source-watch");
      expect(dom).toMatch(/No workers/i);
      // Untranslated labels are shown as their keys.
      expect(dom).not.toMatch(/QUEUE\.STATUS\.|MENU\.QUEUES|DASHBOARD\.JOBS_COUNT/);
    },
    120_000,
  );
});
