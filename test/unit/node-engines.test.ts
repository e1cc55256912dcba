import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import semver from "semver";
import { describe, expect, it } from "vitest";

const pkg = JSON.parse(readFileSync("package.json", "utf8")) as {
  engines: { node: string };
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
const lock = JSON.parse(readFileSync("package-lock.json", "utf8")) as {
  packages: Record<string, { version?: string; engines?: { node?: string } | string[]; dev?: boolean }>;
};

/** The lowest version of each alternative of a range: `^20.19.0 || ^22.13.0 || >=24` → 20.19.0, 22.13.0, 24.0.0. */
function floors(range: string): string[] {
  return new semver.Range(range).set.map((comparators) => {
    const floor = semver.minVersion(comparators.map((c) => c.value).join(" "));
    if (!floor) throw new Error(`no lowest version for ${range}`);
    return floor.version;
  });
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sourceFiles(join(dir, entry.name))
      : entry.name.endsWith(".ts")
        ? [join(dir, entry.name)]
        : [],
  );
}

describe("supported Node versions", () => {
  const supported = floors(pkg.engines.node);

  it("are 20 from 20.19, 22 and 24 (the image's), and include the Node running the tests", () => {
    expect(supported.map((v) => semver.major(v))).toEqual([20, 22, 24]);
    expect(semver.satisfies(process.versions.node, pkg.engines.node), process.versions.node).toBe(true);
    expect(lock.packages[""]?.engines).toEqual(pkg.engines);
  });

  // npm prints EBADENGINE for an installed package whose engines leave out the running Node. Every
  // locked package must accept the lowest version of each supported line (a range that admits
  // 20.19 admits the later 20.x too). This is what failed for cookie@2 and content-disposition@3
  // (Node >= 22, ESM only): package.json's overrides keep their CommonJS 1.x/2.x, same API.
  it("are accepted by every package in the lock, so npm install prints no EBADENGINE", () => {
    const refusals: string[] = [];
    for (const [path, entry] of Object.entries(lock.packages)) {
      const range = Array.isArray(entry.engines) ? undefined : entry.engines?.node;
      if (!path || !range) continue;
      for (const version of supported) {
        if (!semver.satisfies(version, range))
          refusals.push(`${path}@${entry.version}: node ${range} refuses ${version}`);
      }
    }
    expect(refusals).toEqual([]);
  });

  it("leave the AWS SDK's Node version notice on: nothing sets its opt-out variable", () => {
    const files = [
      ...sourceFiles("src"),
      "Dockerfile",
      "docker-compose.yml",
      ...readdirSync("deploy/kubernetes").map((f) => join("deploy/kubernetes", f)),
    ];
    const setters = files.filter((f) =>
      readFileSync(f, "utf8").includes("AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING"),
    );
    expect(setters).toEqual([]);
  });
});

describe("production dependencies", () => {
  // The runtime image installs `dependencies` only: code under src/ that loads a devDependency at
  // import time would fail there. s3rver (the demo's embedded S3) is loaded on first use instead.
  it("are all that src/ imports, apart from the embedded S3's lazy s3rver", () => {
    const dev = new Set(Object.keys(pkg.devDependencies));
    const found: string[] = [];
    for (const file of sourceFiles("src")) {
      const source = readFileSync(file, "utf8");
      for (const match of source.matchAll(/^import (?!type )[^;]*?from "([^"]+)"|import\("([^"]+)"\)/gm)) {
        const specifier = match[1] ?? match[2]!;
        const name = specifier.startsWith("@")
          ? specifier.split("/").slice(0, 2).join("/")
          : specifier.split("/")[0]!;
        if (dev.has(name)) found.push(`${file}: ${match[0].split("\n")[0]}`);
      }
    }
    expect(found).toEqual(['src/runtime/embedded-s3.ts: import("s3rver")']);
  });
});
