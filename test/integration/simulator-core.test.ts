import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { PING_ROUTE } from "../../src/simulator/ais/probe-routes.js";
import { runSimulateCommand } from "../../src/simulator/cli.js";
import { startSimulator, type RunningSimulator, type SimModuleFactory } from "../../src/simulator/index.js";
import { waitFor } from "../support/wait-for-value.js";
import type { Json } from "../support/loose-json.js";

async function json(res: Response): Promise<Json> {
  return res.json();
}

/** A stub upstream whose handler counts its calls, so tests can tell whether a request took effect. */
let effects = 0;
const stubFactory: SimModuleFactory = () => ({
  name: "ais",
  routes: [
    PING_ROUTE,
    {
      method: "POST",
      pattern: "/things/:thingId",
      operation: "touch",
      handler: (req) => {
        effects += 1;
        return { status: 200, body: { thingId: req.params.thingId } };
      },
    },
    {
      method: "GET",
      pattern: "/things/:thingId",
      operation: "read",
      handler: (req) => ({ status: 200, body: req.params }),
    },
    {
      method: "GET",
      pattern: "/things/special",
      operation: "special",
      handler: () => ({ status: 200, body: { special: true } }),
    },
    {
      method: "GET",
      pattern: "/boom",
      operation: "boom",
      handler: () => {
        throw new Error("kaboom");
      },
    },
  ],
  stats: () => ({ effects }),
  reset: () => {
    effects = 0;
  },
});

let sim: RunningSimulator;
let base: string;
let auth: Record<string, string>;

beforeAll(async () => {
  sim = await startSimulator({
    speed: 1000,
    seed: 7,
    modules: { ais: stubFactory },
    maxBodyBytes: 64 * 1024,
    holdMs: 300,
  });
  base = sim.urls.ais;
  auth = { authorization: `Bearer ${sim.token}` };
});
afterAll(async () => {
  await sim.stop();
});
beforeEach(() => {
  sim.reset();
});

async function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

describe("simulator core: routing", () => {
  it("serves every upstream on its own port with the control routes", async () => {
    const ports = new Set(Object.values(sim.urls).map((url) => new URL(url).port));
    expect(ports.size).toBe(7);
    for (const url of Object.values(sim.urls)) {
      const res = await fetch(`${url}/_sim/stats`);
      expect(res.status).toBe(200);
      expect(await json(res)).toHaveProperty("requests");
    }
  });

  it("matches :params, prefers literal segments, and answers 404/405 in JSON", async () => {
    const read = await fetch(`${base}/things/a%20b`, { headers: auth });
    expect(await json(read)).toEqual({ thingId: "a b" });
    const special = await fetch(`${base}/things/special/`, { headers: auth });
    expect(await json(special)).toEqual({ special: true });

    const missing = await fetch(`${base}/nowhere`, { headers: auth });
    expect(missing.status).toBe(404);
    expect((await json(missing)).error).toBe("not_found");

    const wrongMethod = await fetch(`${base}/things/1`, { method: "DELETE", headers: auth });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get("allow")).toContain("GET");
    expect(wrongMethod.headers.get("content-type")).toContain("application/json");
  });

  it("turns a throwing handler into a 500 and keeps serving", async () => {
    const res = await fetch(`${base}/boom`, { headers: auth });
    expect(res.status).toBe(500);
    expect((await fetch(`${base}/ping`)).status).toBe(200);
  });

  it("caps request bodies with 413 and survives malformed percent-escapes", async () => {
    const big = await fetch(`${base}/things/1`, {
      method: "POST",
      headers: auth,
      body: "x".repeat(100 * 1024),
    });
    expect(big.status).toBe(413);
    const bad = await fetch(`${base}/things/%E0%A4%A`, { headers: auth });
    expect(bad.status).toBe(404);
    expect((await fetch(`${base}/ping`)).status).toBe(200);
  });
});

describe("simulator core: auth", () => {
  it("rejects missing and wrong tokens with 401 JSON, accepts the static token", async () => {
    const none = await fetch(`${base}/things/1`);
    expect(none.status).toBe(401);
    expect((await json(none)).message).toMatch(/missing/);
    const wrong = await fetch(`${base}/things/1`, { headers: { authorization: "Bearer nope" } });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("www-authenticate")).toMatch(/Bearer/);
    expect((await fetch(`${base}/things/1`, { headers: auth })).status).toBe(200);
    expect((await fetch(`${base}/ping`)).status).toBe(200);
  });

  it("issues tokens by client credentials (form and JSON) on every base URL", async () => {
    const form = await fetch(`${sim.urls.status}/oauth/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "grant_type=client_credentials&client_id=a&client_secret=b",
    });
    expect(form.status).toBe(200);
    const issued = await json(form);
    expect(issued).toMatchObject({ token_type: "Bearer", expires_in: 3600 });
    expect(typeof issued.access_token).toBe("string");
    const ok = await fetch(`${base}/things/1`, {
      headers: { authorization: `Bearer ${issued.access_token}` },
    });
    expect(ok.status).toBe(200);

    const jsonBody = await post(`${base}/oauth/token`, {
      grant_type: "client_credentials",
      client_id: "a",
      client_secret: "b",
    });
    expect(jsonBody.status).toBe(200);
    const badGrant = await post(`${base}/oauth/token`, {
      grant_type: "password",
      client_id: "a",
      client_secret: "b",
    });
    expect(badGrant.status).toBe(400);
    expect((await json(badGrant)).error).toBe("unsupported_grant_type");
    const empty = await post(`${base}/oauth/token`, {
      grant_type: "client_credentials",
      client_id: "",
      client_secret: "b",
    });
    expect(empty.status).toBe(400);
    const garbage = await post(`${base}/oauth/token`, "{not json");
    expect(garbage.status).toBe(400);
  });

  it("refuses other credentials when the scenario names a client", async () => {
    sim.setScenario({ auth: { clientId: "worker", clientSecret: "s3cret" } });
    const wrong = await post(`${base}/oauth/token`, {
      grant_type: "client_credentials",
      client_id: "x",
      client_secret: "y",
    });
    expect(wrong.status).toBe(401);
    const basic = await fetch(`${base}/oauth/token`, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        authorization: `Basic ${Buffer.from("worker:s3cret").toString("base64")}`,
      },
      body: "grant_type=client_credentials",
    });
    expect(basic.status).toBe(200);
  });

  it("expires issued tokens after the scenario's TTL", async () => {
    sim.setScenario({ auth: { tokenTtlMs: 300 } });
    const res = await post(`${base}/oauth/token`, {
      grant_type: "client_credentials",
      client_id: "a",
      client_secret: "b",
    });
    const { access_token, expires_in } = await json(res);
    expect(expires_in).toBe(1);
    const headers = { authorization: `Bearer ${access_token}` };
    const firstStatus = (await fetch(`${base}/things/1`, { headers })).status;
    const expired = await waitFor("token expiry", async () => {
      const r = await fetch(`${base}/things/1`, { headers });
      return r.status === 401 ? r : undefined;
    });
    // On a slow machine the first call may already be late; the TTL must still be the reason.
    expect([200, 401]).toContain(firstStatus);
    expect((await json(expired)).message).toBe("token expired");
  });
});

describe("simulator core: faults", () => {
  it("fails every request with 500 at rate 1.0 without running the handler", async () => {
    sim.setScenario({ faults: { ais: { touch: { errorRates: { "500": 1 } } } } });
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${base}/things/1`, { method: "POST", headers: auth });
      expect(res.status).toBe(500);
    }
    expect(effects).toBe(0);
    expect((await fetch(`${base}/things/1`, { headers: auth })).status).toBe(200);
    expect(sim.stats().requests["ais.touch"]).toEqual({ "500": 5 });
  });

  it("applies `*` to every operation and 502/503 as configured", async () => {
    sim.setScenario({
      faults: { ais: { "*": { errorRates: { "503": 1 } }, read: { errorRates: { "502": 1 } } } },
    });
    expect((await fetch(`${base}/ping`)).status).toBe(503);
    expect((await fetch(`${base}/things/1`, { headers: auth })).status).toBe(502);
  });

  it("resets the connection without a response", async () => {
    sim.setScenario({ faults: { ais: { touch: { errorRates: { reset: 1 } } } } });
    await expect(fetch(`${base}/things/1`, { method: "POST", headers: auth })).rejects.toThrow();
    expect(effects).toBe(0);
    expect(sim.stats().requests["ais.touch"]).toEqual({ reset: 1 });
  });

  it("holds a timed-out request without an answer", async () => {
    sim.setScenario({ faults: { ais: { read: { errorRates: { timeout: 1 } } } } });
    await expect(fetch(`${base}/things/1`, { headers: auth })).rejects.toThrow();
    expect(sim.stats().requests["ais.read"]).toEqual({ timeout: 1 });
  });

  it("answers exactly `count` 429s with Retry-After, then succeeds", async () => {
    sim.setScenario({ faults: { ais: { read: { burst429: { count: 3, retryAfterSeconds: 7 } } } } });
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${base}/things/1`, { headers: auth });
      expect(res.status).toBe(429);
      expect(res.headers.get("retry-after")).toBe("7");
    }
    expect((await fetch(`${base}/things/1`, { headers: auth })).status).toBe(200);
    expect(sim.stats().requests["ais.read"]).toEqual({ "429": 3, "200": 1 });
  });

  it("loses the response after the effect with errorAfterEffect", async () => {
    sim.setScenario({ faults: { ais: { touch: { errorAfterEffect: { reset: 1 } } } } });
    await expect(fetch(`${base}/things/1`, { method: "POST", headers: auth })).rejects.toThrow();
    expect(effects).toBe(1);
    sim.setScenario({ faults: { ais: { touch: { errorAfterEffect: { "500": 1 } } } } });
    expect((await fetch(`${base}/things/1`, { method: "POST", headers: auth })).status).toBe(500);
    expect(effects).toBe(2);
  });

  it("adds latency", async () => {
    sim.setScenario({ faults: { ais: { ping: { latencyMs: { min: 120, max: 150 } } } } });
    const started = performance.now();
    await fetch(`${base}/ping`);
    expect(performance.now() - started).toBeGreaterThanOrEqual(115);
  });

  it("is reproducible for a seed: the same rates fail the same requests", async () => {
    const run = async () => {
      sim.reset();
      sim.setScenario({ faults: { ais: { read: { errorRates: { "500": 0.5 } } } } });
      const statuses: number[] = [];
      for (let i = 0; i < 20; i++) statuses.push((await fetch(`${base}/things/1`, { headers: auth })).status);
      return statuses;
    };
    const first = await run();
    expect(first).toContain(500);
    expect(first).toContain(200);
    expect(await run()).toEqual(first);
  });
});

describe("simulator core: control", () => {
  it("validates posted scenarios with a clear 400", async () => {
    const cases: [unknown, RegExp][] = [
      [{ faults: { ais: { touch: { errorRates: { "500": 2 } } } } }, /errorRates/],
      [{ faults: { ais: { touch: { errorRates: { "500": 0.7, "503": 0.7 } } } } }, /sum to at most 1/],
      [{ faults: { nosuch: {} } }, /unknown upstream/],
      [{ faults: { ais: { tuoch: { errorRates: { "500": 1 } } } } }, /unknown operation/],
      [{ bogus: true }, /bogus|Unrecognized/],
    ];
    for (const [body, message] of cases) {
      const res = await post(`${base}/_sim/scenario`, body);
      expect(res.status).toBe(400);
      expect((await json(res)).message).toMatch(message);
    }
    const notJson = await post(`${base}/_sim/scenario`, "{oops");
    expect(notJson.status).toBe(400);
  });

  it("merges scenarios, removes with null, and resets everything", async () => {
    await post(`${base}/_sim/scenario`, { faults: { ais: { read: { errorRates: { "500": 1 } } } } });
    const merged = await json(
      await post(`${sim.urls.sqs}/_sim/scenario`, { faults: { ais: { touch: { latencyMs: 1 } } } }),
    );
    expect(Object.keys(merged.faults.ais).sort()).toEqual(["read", "touch"]);
    expect((await fetch(`${base}/things/1`, { headers: auth })).status).toBe(500);
    await post(`${base}/_sim/scenario`, { faults: { ais: { read: null } } });
    expect((await fetch(`${base}/things/1`, { headers: auth })).status).toBe(200);

    const stats = await json(await fetch(`${base}/_sim/stats`));
    expect(stats.requests["ais.read"]).toEqual({ "500": 1, "200": 1 });
    expect(stats.modules.ais).toEqual({ effects: 0 });

    expect((await post(`${base}/_sim/reset`, {})).status).toBe(200);
    const after = await json(await fetch(`${base}/_sim/stats`));
    expect(after.requests).toEqual({});
    expect((await json(await fetch(`${base}/_sim/scenario`))).faults).toEqual({});
  });
});

describe("simulate command", () => {
  it("prints one JSON line once ready and exits 0 on SIGTERM", async () => {
    const lines: string[] = [];
    const spy = vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    try {
      const exit = runSimulateCommand(["--json", "--speed", "100", "--token", "tok"]);
      const printed = await waitFor("the ready line", async () => lines.find((l) => l.startsWith("{")));
      const ready = JSON.parse(printed);
      expect(Object.keys(ready)).toEqual([
        "ais",
        "status",
        "images",
        "imageCache",
        "aem",
        "assets",
        "sqs",
        "token",
      ]);
      expect(ready.token).toBe("tok");
      expect((await fetch(`${ready.status}/_sim/stats`)).status).toBe(200);
      process.emit("SIGTERM");
      expect(await exit).toBe(0);
      await expect(fetch(`${ready.status}/_sim/stats`)).rejects.toThrow();
    } finally {
      spy.mockRestore();
    }
  });

  it("rejects bad flags with exit code 2", async () => {
    const spy = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    try {
      expect(await runSimulateCommand(["--speed", "0"])).toBe(2);
      expect(await runSimulateCommand(["--nope"])).toBe(2);
    } finally {
      spy.mockRestore();
    }
  });
});
