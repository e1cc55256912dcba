// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";

/**
 * Import direction (docs/architecture.md): what each top-level folder of src/ may import besides
 * itself. A folder missing from its list is refused by `no-restricted-imports`. cli, demo and bench
 * are the entry points and may import anything; tests too. This is what the code does today:
 * widen a list only with the reason in docs/architecture.md.
 */
const MAY_IMPORT = {
  log: [],
  telemetry: [],
  metrics: ["telemetry"],
  // config/load.ts checks QUEUE_PREFIX with queues/partitions.ts's prefix rule.
  config: ["queues"],
  notify: ["records"],
  sidecar: ["intake"],
  routing: ["config", "intake"],
  adapters: ["config", "log", "metrics", "telemetry"],
  queues: ["config", "intake", "log", "metrics", "records", "telemetry"],
  records: ["config", "intake", "log", "metrics", "queues", "telemetry"],
  intake: ["adapters", "config", "log", "metrics", "queues", "telemetry"],
  processors: [
    "adapters",
    "config",
    "intake",
    "log",
    "metrics",
    "notify",
    "queues",
    "records",
    "routing",
    "sidecar",
    "telemetry",
  ],
  ops: [
    "adapters",
    "config",
    "http",
    "intake",
    "log",
    "metrics",
    "processors",
    "queues",
    "records",
    "routing",
    "telemetry",
  ],
  http: [
    "adapters",
    "config",
    "intake",
    "log",
    "metrics",
    "notify",
    "ops",
    "processors",
    "queues",
    "records",
    "routing",
    "telemetry",
  ],
  runtime: [
    "adapters",
    "config",
    "http",
    "intake",
    "log",
    "metrics",
    "ops",
    "processors",
    "queues",
    "records",
    "telemetry",
  ],
  simulator: ["config", "http", "log", "runtime", "telemetry"],
};
/** Every top-level folder of src/ (a unit test checks that none is missing). */
export const SRC_FOLDERS = [...Object.keys(MAY_IMPORT), "cli", "demo", "bench"];

/** A target's steps use no other target's; what every target shares uses no target. No one but
 * the runtime uses the registry (processors/index.ts). */
const NOT_THE_REGISTRY = {
  regex: "^\\.\\./index\\.js$",
  message: "only the runtime uses the step registry.",
};
const otherTargets = (/** @type {string} */ ...targets) => [
  { regex: `^\\.\\./(${targets.join("|")})/`, message: "a target's processors import no other target's." },
  NOT_THE_REGISTRY,
];
const PROCESSOR_FOLDERS = {
  vimond: otherTargets("aem", "asset-management"),
  aem: otherTargets("vimond", "asset-management"),
  "asset-management": otherTargets("vimond", "aem"),
  "every-target": [
    {
      regex: "^\\.\\./(vimond|aem|asset-management)/",
      message: "what every target shares imports no target.",
    },
    NOT_THE_REGISTRY,
  ],
};
/** AEM's CloudEvents webhook marks AEM files and hurries aem-poll; partition migration rewrites
 * package identities and stale-event sequencers. Nothing else outside processors/ reaches in. */
const REACH_IN = {
  http: [{ regex: "^\\.\\./processors/(?!aem/)", message: "http uses processors/aem/ only (CloudEvents)." }],
  ops: [
    { regex: "^\\.\\./processors/(?!every-target/)", message: "ops uses processors/every-target/ only." },
  ],
};

/**
 * Patterns for a file `depth` folders below src/<folder>/: relative specifiers climbing exactly to
 * src/ and into a folder not allowed. `typeOnly` folders may still be imported with `import type`.
 * @param {string} folder @param {number} depth @param {string[]} allowed
 * @param {object[]} [extra] @param {string[]} [typeOnly]
 */
function layer(folder, depth, allowed, extra = [], typeOnly = []) {
  const up = "\\.\\./".repeat(depth);
  const banned = SRC_FOLDERS.filter((f) => f !== folder && !allowed.includes(f));
  const message = `src/${folder} may import only ${allowed.join(", ") || "nothing else of src"} (docs/architecture.md).`;
  const group = (/** @type {string[]} */ names, typesOk = false) =>
    names.length
      ? [{ regex: `^${up}(${names.join("|")})(/|\\.js$)`, message, allowTypeImports: typesOk }]
      : [];
  const patterns = [
    ...group(banned.filter((f) => !typeOnly.includes(f))),
    ...group(
      banned.filter((f) => typeOnly.includes(f)),
      true,
    ),
    ...extra,
  ];
  return { "@typescript-eslint/no-restricted-imports": ["error", { patterns }] };
}

/** One config per folder and depth; a later config's options replace an earlier one's. */
const importDirection = [
  ...Object.entries(MAY_IMPORT).flatMap(([folder, allowed]) =>
    [1, 2, 3].map((depth) => ({
      files: [`src/${folder}/${"*/".repeat(depth - 1)}*.ts`],
      rules: layer(folder, depth, allowed, depth === 1 ? (REACH_IN[folder] ?? []) : []),
    })),
  ),
  ...Object.entries(PROCESSOR_FOLDERS).map(([sub, extra]) => ({
    files: [`src/processors/${sub}/*.ts`],
    rules: layer("processors", 2, MAY_IMPORT.processors, extra),
  })),
  // The embedded S3's notifications (runtime/) reach intake through this bridge (local stack).
  { files: ["src/intake/embedded-bridge.ts"], rules: layer("intake", 1, [...MAY_IMPORT.intake, "runtime"]) },
  // ChainDeps is built from the runtime's connections: a type import, erased at run time.
  {
    files: ["src/processors/every-target/chain-deps.ts"],
    rules: layer("processors", 2, MAY_IMPORT.processors, PROCESSOR_FOLDERS["every-target"], ["runtime"]),
  },
];

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "coverage/", "bench/results/"] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: {
          allowDefaultProject: ["eslint.config.js", "test/fixtures/*.mjs", "examples/*.mjs"],
        },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/require-await": "off",
      "no-console": "off",
    },
  },
  {
    files: ["test/**/*.ts"],
    rules: {
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-argument": "off",
      "@typescript-eslint/no-non-null-assertion": "off",
    },
  },
  {
    files: ["**/*.mjs", "**/*.js"],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { globals: { process: "readonly", setTimeout: "readonly", console: "readonly" } },
  },
  ...importDirection,
);
