import { readFileSync } from "node:fs";
import { DockerfileParser, type Instruction } from "dockerfile-ast";
import { validate } from "dockerfile-utils";
import semver from "semver";
import { describe, expect, it } from "vitest";

// No Docker engine here, so the image is never built: these are the properties a build would rely on.
const text = readFileSync("Dockerfile", "utf8");
const dockerfile = DockerfileParser.parse(text);
const pkg = JSON.parse(readFileSync("package.json", "utf8")) as {
  engines: { node: string };
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

interface Stage {
  name: string | null;
  image: string | null;
  tag: string | null;
  digest: string | null;
  instructions: Instruction[];
}

/** The instructions of each FROM, in order (dockerfile-ast keeps its own stage list private). */
function stages(): Stage[] {
  const out: Stage[] = [];
  for (const instruction of dockerfile.getInstructions()) {
    if (instruction.getKeyword() === "FROM") {
      const from = dockerfile.getFROMs()[out.length]!;
      out.push({
        name: from.getBuildStage(),
        image: from.getImageName(),
        tag: from.getImageTag(),
        digest: from.getImageDigest(),
        instructions: [],
      });
    } else {
      out.at(-1)?.instructions.push(instruction);
    }
  }
  return out;
}

/** What follows the keyword, flags included (`--from=build /app/dist ./dist`). */
function lines(stage: Stage, keyword: string): string[] {
  return stage.instructions
    .filter((i) => i.getKeyword() === keyword)
    .map((i) => i.getTextContent().slice(i.getInstruction().length).trim());
}

/** The Node version of the image, from its tag: `24.21.0-bookworm-slim` → `24.21.0`. */
function imageNode(stage: Stage): string {
  const version = stage.tag?.match(/^(\d+\.\d+\.\d+)-/)?.[1];
  if (!version) throw new Error(`FROM ${stage.image}:${stage.tag} does not name a full Node version`);
  return version;
}

describe("Dockerfile", () => {
  const all = stages();
  const build = all.find((s) => s.name === "build");
  const runtime = all.at(-1)!;

  it("has no problem Docker's builder would report (dockerfile-utils' validator)", () => {
    const problems = validate(text).map(
      (d) => `line ${d.range.start.line + 1}: ${typeof d.message === "string" ? d.message : d.message.value}`,
    );
    expect(problems).toEqual([]);
  });

  it("builds in two stages from one official Node 22 or 24 slim image, pinned by tag and digest", () => {
    expect(all.map((s) => s.name)).toEqual(["build", "runtime"]);
    for (const stage of all) {
      expect(stage.image).toBe("node");
      expect(stage.tag).toMatch(/^(22|24)\.\d+\.\d+-bookworm-slim$/);
      expect(stage.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    }
    // One base: a bump that forgets one FROM line would build with one Node and run with another.
    expect(new Set(all.map((s) => `${s.tag}@${s.digest}`)).size).toBe(1);
  });

  it("runs a Node that package.json's engines accept and the AWS SDK does not warn about", () => {
    const version = imageNode(runtime);
    expect(semver.satisfies(version, pkg.engines.node), `${version} vs ${pkg.engines.node}`).toBe(true);
    // The SDK warns below 22 (NodeVersionSupportWarning); the image meets it instead of silencing it.
    expect(semver.major(version)).toBeGreaterThanOrEqual(22);
    for (const stage of all) {
      for (const env of lines(stage, "ENV"))
        expect(env).not.toContain("AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING");
    }
  });

  it("installs exactly the lock with npm ci and no install scripts, in both stages", () => {
    expect(build).toBeDefined();
    expect(lines(build!, "RUN")).toContain("npm ci --ignore-scripts");
    expect(lines(build!, "RUN")).toContain("npm run build");
    for (const stage of all) {
      const runs = lines(stage, "RUN").join("\n");
      expect(runs).not.toMatch(/npm (install|i)\b/);
      expect(lines(stage, "COPY")[0]).toBe("package.json package-lock.json ./");
    }
  });

  it("ships production dependencies only: no dev or demo packages, no node_modules from the build", () => {
    const runs = lines(runtime, "RUN");
    expect(runs).toContain("npm ci --omit=dev --ignore-scripts && npm cache clean --force");
    const copies = lines(runtime, "COPY");
    expect(copies.filter((c) => c.startsWith("--from="))).toEqual(["--from=build /app/dist ./dist"]);
    expect(copies.join("\n")).not.toContain("node_modules");
    expect(lines(runtime, "ENV")).toContain("NODE_ENV=production");
    // The demo's embedded S3 is a development dependency, so --omit=dev leaves it out.
    expect(pkg.devDependencies).toHaveProperty("s3rver");
    expect(pkg.dependencies).not.toHaveProperty("s3rver");
  });

  it("runs as the image's non-root node user, the CLI as entry point", () => {
    const users = lines(runtime, "USER");
    expect(users).toEqual(["node"]);
    const user = runtime.instructions.findIndex((i) => i.getKeyword() === "USER");
    const lastRun = runtime.instructions.findLastIndex((i) => i.getKeyword() === "RUN");
    expect(user).toBeGreaterThan(lastRun);
    expect(lines(runtime, "ENTRYPOINT")).toEqual(['["node", "dist/cli/main.js"]']);
    expect(lines(runtime, "CMD")).toEqual(['["run"]']);
  });

  it("names the same image in its refresh note, README and docs/operations.md", () => {
    const image = `node:${runtime.tag}`;
    const version = imageNode(runtime);
    expect(text).toContain(`Docker Hub's ${image}`);
    expect(readFileSync("README.md", "utf8")).toContain(`\`${image}\``);
    const operations = readFileSync("docs/operations.md", "utf8");
    expect(operations).toContain(`\`${image}@${runtime.digest}\``);
    expect(operations).toContain(`Node ${version}`);
  });
});
