import { readdirSync, readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { ESLint } from "eslint";
import { describe, expect, it } from "vitest";

const RULE = "@typescript-eslint/no-restricted-imports";
const eslint = new ESLint({ cache: false });

/** Lints `file` with one import line added on top, as `npm run lint` would. */
async function importErrors(file: string, line: string): Promise<string[]> {
  const [result] = await eslint.lintText(`${line}\n${readFileSync(file, "utf8")}`, { filePath: file });
  return (result?.messages ?? []).filter((m) => m.ruleId === RULE).map((m) => m.message);
}

// The layering of docs/architecture.md, as eslint.config.js enforces it.
describe("import direction", () => {
  it("has a layer for every top-level folder of src/", async () => {
    const { SRC_FOLDERS } = (await import(pathToFileURL("eslint.config.js").href)) as {
      SRC_FOLDERS: string[];
    };
    const folders = readdirSync("src", { withFileTypes: true }).filter((d) => d.isDirectory());
    expect(folders.map((d) => d.name).sort()).toEqual([...SRC_FOLDERS].sort());
  });

  it.each([
    ["src/queues/names.ts", 'import "../processors/index.js";'],
    ["src/adapters/ais/ais-adapter.ts", 'import "../../queues/names.js";'],
    ["src/adapters/index.ts", 'import "../http/server.js";'],
    ["src/processors/aem/aem-poll.ts", 'import "../vimond/atom-push.js";'],
    ["src/processors/every-target/poll-delay.ts", 'import "../aem/aem-batch.js";'],
    ["src/processors/vimond/remediate.ts", 'import "../index.js";'],
    ["src/processors/every-target/chain-deps.ts", 'import "../../runtime/service.js";'],
    ["src/http/board.ts", 'import "../processors/vimond/atom-push.js";'],
  ])("refuses %s importing: %s", async (file, line) => {
    expect(await importErrors(file, line)).toHaveLength(1);
  });

  it.each([
    ["src/adapters/ais/ais-adapter.ts", 'import "../http/upstream-client.js";'],
    ["src/http/board.ts", 'import "../processors/aem/aem-poll.js";'],
    [
      "src/processors/every-target/chain-deps.ts",
      'import type { RuntimeConnections as _R } from "../../runtime/worker-runtime.js";',
    ],
    ["src/processors/vimond/remediate.ts", 'import "../every-target/poll-delay.js";'],
  ])("allows %s importing: %s", async (file, line) => {
    expect(await importErrors(file, line)).toEqual([]);
  });
});
