import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, parseEnv, requireUpstreams } from "../../src/config/load.js";
import { parseRoutes, RoutesFileError } from "../../src/config/routes.js";

describe("environment", () => {
  it("has local defaults", () => {
    const env = parseEnv({});
    expect(env.HTTP_PORT).toBe(8080);
    expect(env.QUEUE_PREFIX).toBe("{ingest}");
    expect(env.REDIS_URL).toBe("redis://127.0.0.1:6379");
    expect(env.BOARD_READ_ONLY).toBe(true);
    expect(env.NOTIFY_URLS).toEqual([]);
  });

  it("names the variable and what it expects, one line per problem", () => {
    try {
      parseEnv({
        HTTP_PORT: "abc",
        REDIS_URL: "http://x",
        WORKER_CONCURRENCY: "0",
        BOARD_READ_ONLY: "maybe",
      });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const problems = (error as ConfigError).problems;
      expect(problems).toContain('HTTP_PORT must be a port number, got "abc"');
      expect(problems).toContain('REDIS_URL must be a redis:// or rediss:// URL, got "http://x"');
      expect(problems).toContain('WORKER_CONCURRENCY must be an integer from 1 to 1000, got "0"');
      expect(problems).toContain('BOARD_READ_ONLY must be true or false, got "maybe"');
      expect(problems).toHaveLength(4);
    }
  });

  it("treats empty values as unset and parses lists", () => {
    const env = parseEnv({
      HTTP_PORT: "",
      NOTIFY_URLS: "http://a/x, https://b/y",
      AIS_BASE_URL: "http://ais/",
    });
    expect(env.HTTP_PORT).toBe(8080);
    expect(env.NOTIFY_URLS).toEqual(["http://a/x", "https://b/y"]);
    expect(env.AIS_BASE_URL).toBe("http://ais");
  });

  it("leaves ADMIN_PORT unset by default and refuses it on HTTP_PORT's port", () => {
    expect(parseEnv({}).ADMIN_PORT).toBeUndefined();
    expect(parseEnv({ ADMIN_PORT: "9090" }).ADMIN_PORT).toBe(9090);
    expect(parseEnv({ HTTP_PORT: "0", ADMIN_PORT: "0" }).ADMIN_PORT).toBe(0);
    expect(() => parseEnv({ ADMIN_PORT: "8080" })).toThrow(
      "ADMIN_PORT must differ from HTTP_PORT (both 8080); unset it to serve everything on HTTP_PORT",
    );
    expect(() => parseEnv({ ADMIN_PORT: "x" })).toThrow('ADMIN_PORT must be a port number, got "x"');
    expect(parseEnv({}).SHUTDOWN_DELAY_MS).toBe(0);
  });

  it("rejects a port out of range", () => {
    expect(() => parseEnv({ HTTP_PORT: "70000" })).toThrow('HTTP_PORT must be a port number, got "70000"');
  });
});

describe("routes", () => {
  const vimond = {
    name: "news",
    bucket: "media-in",
    prefix: "news/",
    target: "vimond",
    vimond: { mediaFeedId: 12 },
  };

  it("applies defaults and lower-cases suffixes", () => {
    const file = parseRoutes({ routes: [{ ...vimond, suffixes: [".JSON"] }] });
    const route = file.routes[0]!;
    expect(route.trigger).toBe("manifest");
    expect(route.suffixes).toEqual([".json"]);
    expect(route.target === "vimond" && route.vimond.mediaFeedId).toBe("12");
  });

  it("reports each problem with its path", () => {
    try {
      parseRoutes({
        routes: [
          vimond,
          { ...vimond, bucket: "" },
          { name: "x", bucket: "b", target: "aem", aem: { folder: "dam" } },
        ],
      });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(RoutesFileError);
      const problems = (error as RoutesFileError).problems.join("\n");
      expect(problems).toContain("routes[1].bucket: must not be empty");
      expect(problems).toContain("routes[2].aem.folder: must be an absolute DAM path");
      expect(problems).toContain('routes[1].name: duplicate route name "news"');
    }
  });

  it("requires an upstream's settings only when a route targets it", () => {
    const env = parseEnv({});
    expect(() => requireUpstreams(env, null)).not.toThrow();
    const routes = parseRoutes({ routes: [vimond] });
    expect(() => requireUpstreams(env, routes)).toThrow("AIS_BASE_URL must be set: routes news need it");
    const configured = parseEnv({
      AIS_BASE_URL: "http://a",
      AIS_TOKEN: "t",
      STATUS_BASE_URL: "http://s",
      STATUS_TOKEN: "t",
      IMAGES_BASE_URL: "http://i",
      IMAGES_TOKEN_FILE: "/run/secrets/images",
    });
    expect(() => requireUpstreams(configured, routes)).not.toThrow();
  });

  it("loads YAML and JSON files and explains unreadable ones", async () => {
    const dir = await mkdtemp(join(tmpdir(), "routes-"));
    const yamlFile = join(dir, "routes.yaml");
    await writeFile(
      yamlFile,
      "routes:\n  - name: am\n    bucket: b\n    target: asset-management\n    assetManagement: { parentFolder: root }\n",
    );
    const config = await loadConfig({
      ROUTES_FILE: yamlFile,
      ASSETS_BASE_URL: "http://am",
      ASSETS_TOKEN: "x",
    });
    expect(config.routes?.routes[0]?.target).toBe("asset-management");
    const jsonFile = join(dir, "routes.json");
    await writeFile(jsonFile, "{ not json");
    await expect(loadConfig({ ROUTES_FILE: jsonFile })).rejects.toThrow(/is not valid JSON/);
    await expect(loadConfig({ ROUTES_FILE: join(dir, "missing.yaml") })).rejects.toThrow(
      /cannot be read: ENOENT/,
    );
  });
});
