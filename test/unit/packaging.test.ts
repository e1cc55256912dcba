import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { envSchema } from "../../src/config/env.js";
import { loadRoutesFile } from "../../src/config/routes.js";

// The S3 and SQS credentials are the AWS SDK's own variables, read by its credential chain.
const known = new Set([...Object.keys(envSchema.shape), "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]);

// The Dockerfile's checks are in dockerfile.test.ts.
describe("docker-compose.yml", () => {
  const compose = parseYaml(readFileSync("docker-compose.yml", "utf8")) as {
    services: Record<
      string,
      { command?: string[]; environment?: Record<string, string>; volumes?: string[] }
    >;
  };

  it("runs Redis with noeviction and AOF", () => {
    const command = compose.services.redis!.command!.join(" ");
    expect(command).toContain("--maxmemory-policy noeviction");
    expect(command).toContain("--appendonly yes");
  });

  it("sets only environment variables the config schema knows, with valid values", () => {
    const environment = compose.services.worker!.environment!;
    for (const name of Object.keys(environment)) expect(known, `unknown variable ${name}`).toContain(name);
    expect(envSchema.safeParse(environment).success).toBe(true);
  });

  it("mounts a routes file that validates", async () => {
    const volume = compose.services.worker!.volumes!.find((v) => v.includes("routes"))!;
    const file = await loadRoutesFile(volume.split(":")[0]!);
    expect(file.routes.map((r) => r.target).sort()).toEqual(["aem", "asset-management", "vimond"]);
  });
});
