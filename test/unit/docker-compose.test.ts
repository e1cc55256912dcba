import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { parseEnv, requireUpstreams } from "../../src/config/load.js";
import { parseRoutes } from "../../src/config/routes.js";
import { UPSTREAMS, type UpstreamName } from "../../src/simulator/core/upstreams.js";

/**
 * There is no Docker engine here, so docker-compose.yml is checked by structure: every address,
 * token and file one service relies on must be what the other service actually provides.
 */

interface Service {
  image?: string;
  build?: unknown;
  command?: string | string[];
  entrypoint?: string[];
  depends_on?: string[];
  ports?: string[];
  volumes?: string[];
  environment?: Record<string, string>;
}

const compose = parseYaml(readFileSync("docker-compose.yml", "utf8")) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};
const { services } = compose;

function service(name: string): Service {
  const found = services[name];
  if (!found) throw new Error(`docker-compose.yml has no service ${name}`);
  return found;
}
const env = (name: string) => service(name).environment ?? {};
const args = (name: string): string[] => {
  const command = service(name).command;
  return Array.isArray(command) ? command.map(String) : String(command ?? "").split(/\s+/);
};
function flag(name: string, option: string): string | undefined {
  const list = args(name);
  const at = list.indexOf(option);
  return at >= 0 ? list[at + 1] : undefined;
}
/** The host file mounted at `containerPath` in a service. */
function mounted(name: string, containerPath: string): string {
  const volume = (service(name).volumes ?? []).find((v) => v.split(":")[1] === containerPath);
  if (!volume) throw new Error(`${name} mounts nothing at ${containerPath}`);
  return volume.split(":")[0]!.replace(/^\.\//, "");
}

const worker = env("worker");
const routesFile = mounted("worker", worker.ROUTES_FILE!);
const routes = parseRoutes(parseYaml(readFileSync(routesFile, "utf8")), routesFile);

describe("docker-compose.yml", () => {
  it("has Redis, an S3, its event source, the simulator and the worker", () => {
    for (const name of ["redis", "minio", "minio-setup", "simulator", "worker"])
      expect(service(name)).toBeDefined();
    expect(args("redis")).toEqual(
      expect.arrayContaining(["--maxmemory-policy", "noeviction", "--appendonly", "yes"]),
    );
    expect(service("worker").depends_on).toEqual(expect.arrayContaining(["redis", "minio", "simulator"]));
    for (const volume of Object.values(services).flatMap((s) => s.volumes ?? [])) {
      const source = volume.split(":")[0]!;
      if (!source.startsWith(".")) expect(compose.volumes, source).toHaveProperty(source);
    }
  });

  it("configures a worker that passes the start-up checks for every route it mounts", () => {
    const parsed = parseEnv(worker);
    expect(() => requireUpstreams(parsed, routes)).not.toThrow();
    expect(service("worker").ports).toContain(`${parsed.HTTP_PORT}:${parsed.HTTP_PORT}`);
    expect(worker.REDIS_URL).toBe("redis://redis:6379");
  });

  it("points the worker's S3 at MinIO with MinIO's own credentials", () => {
    const minio = env("minio");
    expect(args("minio")[0]).toBe("server");
    expect(worker.S3_ENDPOINT).toBe("http://minio:9000");
    expect(worker.AWS_ACCESS_KEY_ID).toBe(minio.MINIO_ROOT_USER);
    expect(worker.AWS_SECRET_ACCESS_KEY).toBe(minio.MINIO_ROOT_PASSWORD);
  });

  it("sends MinIO's bucket notifications to the worker's intake, for every bucket the routes name", () => {
    const minio = env("minio");
    const ids = Object.keys(minio)
      .map((k) => /^MINIO_NOTIFY_WEBHOOK_ENABLE_(\w+)$/.exec(k)?.[1])
      .filter((id): id is string => id !== undefined && minio[`MINIO_NOTIFY_WEBHOOK_ENABLE_${id}`] === "on");
    expect(ids).toHaveLength(1);
    const id = ids[0]!;
    expect(minio[`MINIO_NOTIFY_WEBHOOK_ENDPOINT_${id}`]).toBe(
      `http://worker:${worker.HTTP_PORT}/v1/events/s3`,
    );
    expect(minio[`MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_${id}`]).toBe(worker.INTAKE_TOKEN);
    expect(minio[`MINIO_NOTIFY_WEBHOOK_QUEUE_DIR_${id}`]).toBeTruthy();

    const setup = [...(service("minio-setup").entrypoint ?? []), ...args("minio-setup")].join(" ");
    expect(setup).toContain(
      `mc alias set local http://minio:9000 ${minio.MINIO_ROOT_USER} ${minio.MINIO_ROOT_PASSWORD}`,
    );
    for (const bucket of new Set(routes.routes.map((r) => r.bucket))) {
      expect(setup).toContain(`mc mb --ignore-existing local/${bucket}`);
      expect(setup).toMatch(
        new RegExp(
          `mc event add --ignore-existing local/${bucket} arn:minio:sqs::${id}:webhook --event put,delete`,
        ),
      );
    }
  });

  it("runs the simulator where the worker looks for each upstream, seeded with the routes' feeds", () => {
    expect(flag("simulator", "--host")).toBe("0.0.0.0");
    const base = Number(flag("simulator", "--port"));
    const token = flag("simulator", "--token");
    const at = (name: UpstreamName) => `http://simulator:${base + UPSTREAMS.indexOf(name)}`;
    const expected: Record<string, UpstreamName> = {
      AIS_BASE_URL: "ais",
      STATUS_BASE_URL: "status",
      IMAGES_BASE_URL: "images",
      AEM_BASE_URL: "aem",
      ASSETS_BASE_URL: "assets",
      SQS_ENDPOINT: "sqs",
    };
    for (const [variable, upstream] of Object.entries(expected))
      if (worker[variable] !== undefined) expect(worker[variable], variable).toBe(at(upstream));
    for (const key of ["AIS", "STATUS", "IMAGES", "AEM", "ASSETS"])
      if (worker[`${key}_TOKEN`] !== undefined) expect(worker[`${key}_TOKEN`], key).toBe(token);
    expect(service("simulator").ports).toContain(
      `${base}-${base + UPSTREAMS.length - 1}:${base}-${base + UPSTREAMS.length - 1}`,
    );

    // The simulator reads the same routes file as the worker and seeds the worker's company.
    expect(mounted("simulator", flag("simulator", "--routes")!)).toBe(routesFile);
    expect(flag("simulator", "--company")).toBe(worker.AIS_COMPANY_ID);
    expect(routes.routes.some((r) => r.target === "vimond")).toBe(true);
  });
});
