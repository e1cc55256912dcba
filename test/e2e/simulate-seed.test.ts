import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSimulator } from "../../src/simulator/index.js";
import { CLI, requireBuild, spawnNode, type Spawned } from "../support/cli.js";

const EXAMPLE_ROUTES = resolve(process.cwd(), "deploy/routes.example.yaml");

interface Ready {
  ais: string;
  token: string;
  feeds: Array<{ id: string; companyId: string; route: string; created: boolean }>;
}

describe("ingest-worker simulate --routes", () => {
  const running: Spawned[] = [];
  let dir: string;
  beforeAll(async () => {
    requireBuild();
    dir = await mkdtemp(join(tmpdir(), "sim-seed-"));
  });
  afterAll(async () => {
    for (const p of running) if (p.child.exitCode === null) p.child.kill("SIGKILL");
    await rm(dir, { recursive: true, force: true });
  });

  async function simulate(args: string[]): Promise<{ sim: Spawned; ready: Ready }> {
    const sim = spawnNode([CLI, "simulate", "--json", "--token", "seed-token", ...args], {});
    running.push(sim);
    const [line] = await sim.waitForOutput(/^\{.*"token".*\}$/m, 30_000);
    return { sim, ready: JSON.parse(line) as Ready };
  }

  async function feed(ready: Ready, companyId: string, id: string) {
    const res = await fetch(`${ready.ais}/company/${companyId}/mediaFeeds/${id}`, {
      headers: { authorization: `Bearer ${ready.token}` },
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  it("creates the media feed the example routes name, so a push finds it", async () => {
    const { sim, ready } = await simulate(["--routes", EXAMPLE_ROUTES]);
    expect(ready.feeds).toEqual([{ id: "1", companyId: "1", route: "news", created: true }]);
    expect(await feed(ready, "1", "1")).toMatchObject({
      status: 200,
      body: { id: 1, name: "news", type: "PUSH", enabled: true },
    });
    // A push finds the feed (an empty Atom feed is then refused for having no entries); on an
    // unseeded simulator the same push is a 404 for the feed.
    const push = await fetch(`${ready.ais}/ais/feed/1/v2/schedule`, {
      method: "POST",
      headers: { authorization: `Bearer ${ready.token}`, "content-type": "application/atom+xml" },
      body: '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title></feed>',
    });
    expect(push.status).toBe(400);
    expect(await push.text()).toContain("no entries");
    const fresh = await startSimulator({ port: 0, token: "t" });
    try {
      const unseeded = await fetch(`${fresh.urls.ais}/ais/feed/1/v2/schedule`, {
        method: "POST",
        headers: { authorization: "Bearer t", "content-type": "application/atom+xml" },
        body: '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title></feed>',
      });
      expect(unseeded.status).toBe(404);
    } finally {
      await fresh.stop();
    }
    sim.child.kill("SIGTERM");
    expect(await sim.exited).toBe(0);
  });

  it("reaches a higher feed id through disabled placeholders, per company, and refuses what it cannot seed", async () => {
    const file = join(dir, "routes.yaml");
    await writeFile(
      file,
      [
        "routes:",
        "  - { name: sport, bucket: b, prefix: sport/, trigger: manifest, target: vimond, vimond: { mediaFeedId: '3', companyId: '42' } }",
        "  - { name: kids, bucket: b, prefix: kids/, trigger: manifest, target: vimond, vimond: { mediaFeedId: 1 } }",
        "",
      ].join("\n"),
    );
    const { sim, ready } = await simulate(["--routes", file, "--company", "7"]);
    expect(ready.feeds.map((f) => [f.id, f.companyId, f.route])).toEqual([
      ["1", "7", "kids"],
      ["3", "42", "sport"],
    ]);
    expect((await feed(ready, "42", "3")).body).toMatchObject({ name: "sport", enabled: true });
    expect((await feed(ready, "42", "2")).body).toMatchObject({ enabled: false });
    sim.child.kill("SIGTERM");
    expect(await sim.exited).toBe(0);

    const bad = join(dir, "bad.yaml");
    await writeFile(
      bad,
      "routes:\n  - { name: x, bucket: b, trigger: manifest, target: vimond, vimond: { mediaFeedId: 'news-feed' } }\n",
    );
    const refused = spawnNode([CLI, "simulate", "--routes", bad], {});
    running.push(refused);
    expect(await refused.exited).toBe(2);
    expect(refused.output()).toContain('mediaFeedId "news-feed" cannot be seeded');
    const missing = spawnNode([CLI, "simulate", "--routes", join(dir, "nope.yaml")], {});
    running.push(missing);
    expect(await missing.exited).toBe(2);
    expect(missing.output()).toContain("cannot be read");
  });

  it("names the host the client used in the links it returns (a container listens on 0.0.0.0)", async () => {
    const sim = await startSimulator({ port: 0 });
    try {
      const port = new URL(sim.urls.sqs).port;
      const body = await new Promise<string>((done, fail) => {
        const req = request(
          {
            host: "127.0.0.1",
            port,
            method: "POST",
            path: "/",
            headers: {
              host: `simulator:${port}`,
              "content-type": "application/x-amz-json-1.0",
              "x-amz-target": "AmazonSQS.CreateQueue",
            },
          },
          (res) => {
            let text = "";
            res.on("data", (chunk: Buffer) => (text += chunk.toString()));
            res.on("end", () => done(text));
          },
        );
        req.on("error", fail);
        req.end(JSON.stringify({ QueueName: "events" }));
      });
      expect(JSON.parse(body)).toEqual({ QueueUrl: `http://simulator:${port}/000000000000/events` });
    } finally {
      await sim.stop();
    }
  });
});
