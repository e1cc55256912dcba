import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml, parseAllDocuments } from "yaml";
import { envSchema } from "../../src/config/env.js";
import { parseEnv, requireUpstreams } from "../../src/config/load.js";
import { parseRoutes } from "../../src/config/routes.js";
import { registry } from "../../src/metrics/registry.js";

/**
 * The deploy manifests, dashboard and runbooks are checked against the code they describe: the
 * environment and routes schemas, the HTTP contract and the metric definitions. No cluster needed.
 */

const K8S_DIR = "deploy/kubernetes";
const DASHBOARD = "deploy/grafana/ingest-worker-dashboard.json";
const OPERATIONS = "docs/operations.md";

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

interface Probe {
  httpGet?: { path: string; port: string | number };
}

interface Container {
  name: string;
  image: string;
  args?: string[];
  ports?: { name?: string; containerPort: number }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  env?: {
    name: string;
    value?: string;
    valueFrom?: { secretKeyRef?: { name: string; key: string }; configMapKeyRef?: unknown };
  }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: Record<string, unknown>;
  volumeMounts?: { name: string; mountPath: string; subPath?: string }[];
}

interface PodSpec {
  terminationGracePeriodSeconds?: number;
  securityContext?: Record<string, unknown>;
  containers: Container[];
  volumes?: { name: string; configMap?: { name: string; items?: { key: string; path: string }[] } }[];
}

interface Deployment extends K8sObject {
  spec: {
    selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
  };
}

interface ConfigMap extends K8sObject {
  data: Record<string, string>;
}

interface Rule {
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

interface Trigger {
  type: string;
  metadata: Record<string, string>;
}

interface DashboardPanel {
  id: number;
  type: string;
  title: string;
  targets?: { expr: string; refId: string }[];
}

interface Dashboard {
  uid: string;
  panels: DashboardPanel[];
  templating: { list: { name: string; type: string; query: unknown }[] };
}

// ---------------------------------------------------------------- loading

const yamlFiles = readdirSync(K8S_DIR)
  .filter((f) => /\.ya?ml$/.test(f))
  .sort();

/** Every document of every YAML file; parse errors and warnings collected, not thrown. */
const parsed = yamlFiles.map((file) => {
  const docs = parseAllDocuments(readFileSync(join(K8S_DIR, file), "utf8"));
  return {
    file,
    problems: docs.flatMap((d) => [...d.errors, ...d.warnings].map((e) => e.message)),
    objects: docs.map((d) => d.toJS() as K8sObject).filter((o) => o !== null),
  };
});

const kustomization = parsed.find((p) => p.file === "kustomization.yaml")!.objects[0] as unknown as {
  namespace: string;
  resources: string[];
};
const objects = parsed.filter((p) => p.file !== "kustomization.yaml").flatMap((p) => p.objects);

function one<T extends K8sObject>(kind: string, name?: string): T {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  expect(found, `${kind} ${name ?? ""}`).toHaveLength(1);
  return found[0] as T;
}

const deployment = one<Deployment>("Deployment");
const pod = deployment.spec.template.spec;
const container = pod.containers[0]!;
const envConfigMapName = container.envFrom?.find((e) => e.configMapRef)?.configMapRef?.name;
const envConfigMap = one<ConfigMap>("ConfigMap", envConfigMapName);
const secretExample = one<K8sObject & { stringData: Record<string, string> }>("Secret");
const secretRefs = (container.env ?? []).filter((e) => e.valueFrom?.secretKeyRef);
/** The environment a pod gets, with the example Secret's placeholders as the secret values. */
const podEnv: Record<string, string> = {
  ...envConfigMap.data,
  ...Object.fromEntries(
    (container.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]),
  ),
  ...Object.fromEntries(
    secretRefs.map((e) => [e.name, secretExample.stringData[e.valueFrom!.secretKeyRef!.key]!]),
  ),
};
const env = parseEnv(podEnv);

const rules = one<K8sObject & { spec: { groups: { name: string; rules: Rule[] }[] } }>(
  "PrometheusRule",
).spec.groups.flatMap((g) => g.rules);
const alerts = rules.filter((r) => r.alert !== undefined);
const scaledObject = one<K8sObject & { spec: { scaleTargetRef: { name: string }; triggers: Trigger[] } }>(
  "ScaledObject",
);
const dashboard = JSON.parse(readFileSync(DASHBOARD, "utf8")) as Dashboard;
const operations = readFileSync(OPERATIONS, "utf8");

const SECRET_NAME = /(_TOKEN|_CLIENT_SECRET|^NOTIFY_SECRET)$/;
const schemaNames = new Set(Object.keys(envSchema.shape));
/** Variables for the Node.js runtime itself, not the worker's settings. */
const RUNTIME_VARS = new Set(["NODE_OPTIONS"]);

// ---------------------------------------------------------------- metric names from the code

interface MetricDefinition {
  type: string;
  labels: string[];
}

/** `name: "ingest_..."` of every metric in src/metrics, with its type and label names. */
function definedMetrics(): Map<string, MetricDefinition> {
  const defined = new Map<string, MetricDefinition>();
  const dir = "src/metrics";
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".ts"))) {
    const source = readFileSync(join(dir, file), "utf8");
    const plainNames = [...source.matchAll(/name:\s*"(ingest_\w+)"/g)].map((m) => m[1]!);
    const chunks = source.split(/(?=new (?:Counter|Gauge|Histogram|Summary)\b)/).slice(1);
    const found: string[] = [];
    for (const chunk of chunks) {
      const type = /^new (\w+)/.exec(chunk)![1]!;
      const name = /name:\s*"(ingest_\w+)"/.exec(chunk)?.[1];
      if (!name) continue;
      const labels = /labelNames:\s*\[([^\]]*)\]/.exec(chunk)?.[1] ?? "";
      defined.set(name, { type, labels: [...labels.matchAll(/"(\w+)"/g)].map((m) => m[1]!) });
      found.push(name);
    }
    // Every grep hit must have been understood, or a metric would slip past the checks below.
    expect(found.sort(), file).toEqual(plainNames.sort());
  }
  return defined;
}

const defined = definedMetrics();

/** prom-client's default metrics under the registry's prefix (ingest_process_*, ingest_nodejs_*). */
async function defaultMetrics(): Promise<Map<string, MetricDefinition>> {
  const all = await registry.getMetricsAsJSON();
  return new Map(
    all.map((m): [string, MetricDefinition] => {
      const type = String(m.type);
      return [m.name, { type: type === "histogram" ? "Histogram" : type, labels: [] }];
    }),
  );
}

/** Labels Prometheus adds to every series scraped through the ServiceMonitor. */
const TARGET_LABELS = ["namespace", "job", "pod", "instance", "service", "endpoint", "container"];
/** Metrics from outside the worker the rules may use: Prometheus itself and kube-state-metrics. */
const EXTERNAL_METRICS = new Set(["up", "kube_pod_status_ready", "kube_pod_info"]);

/** Metric names and their label matchers in one PromQL expression (string literals skipped). */
function metricsIn(expr: string): { name: string; labels: string[] }[] {
  const uses: { name: string; labels: string[] }[] = [];
  const pattern = /(?<![\w:$])([a-zA-Z_:][\w:]*)\s*(\{([^}]*)\})?/g;
  const withoutStrings = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  for (const match of withoutStrings.matchAll(pattern)) {
    const name = match[1]!;
    const isMetric = name.startsWith("ingest_") || match[2] !== undefined;
    if (!isMetric) continue;
    const labels = [...(match[3] ?? "").matchAll(/(\w+)\s*(?:=~|!~|!=|=)/g)].map((m) => m[1]!);
    uses.push({ name, labels });
  }
  return uses;
}

function checkExpression(
  where: string,
  expr: string,
  known: Map<string, MetricDefinition>,
): { problems: string[]; count: number } {
  const problems: string[] = [];
  const uses = metricsIn(expr);
  for (const { name, labels } of uses) {
    if (EXTERNAL_METRICS.has(name)) continue;
    const base = name.replace(/_(bucket|sum|count)$/, "");
    const definition =
      known.get(name) ??
      (base !== name && ["Histogram", "Summary"].includes(known.get(base)?.type ?? "")
        ? known.get(base)
        : undefined);
    if (!definition) {
      problems.push(`${where}: ${name} is not a metric the worker defines`);
      continue;
    }
    const allowed = new Set([
      ...definition.labels,
      ...TARGET_LABELS,
      ...(name.endsWith("_bucket") ? ["le"] : []),
    ]);
    for (const label of labels)
      if (!allowed.has(label)) problems.push(`${where}: ${name} has no label "${label}"`);
  }
  return { problems, count: uses.length };
}

/** Every PromQL expression the deploy files hold, with where it is. */
function allExpressions(): { where: string; expr: string }[] {
  const exprs: { where: string; expr: string }[] = [];
  for (const rule of rules) exprs.push({ where: `rule ${rule.alert ?? "?"}`, expr: rule.expr });
  for (const trigger of scaledObject.spec.triggers)
    if (trigger.type === "prometheus")
      exprs.push({ where: "KEDA prometheus trigger", expr: trigger.metadata.query! });
  for (const panel of dashboard.panels)
    for (const target of panel.targets ?? [])
      exprs.push({ where: `panel "${panel.title}" ${target.refId}`, expr: target.expr });
  for (const variable of dashboard.templating.list) {
    if (variable.type !== "query") continue;
    const query =
      typeof variable.query === "string" ? variable.query : (variable.query as { query: string }).query;
    const inner = /^label_values\((.*),\s*\w+\)$/.exec(query)?.[1];
    exprs.push({ where: `variable ${variable.name}`, expr: inner ?? query });
  }
  return exprs;
}

// ---------------------------------------------------------------- tests

describe("deploy/kubernetes", () => {
  it("parses: every YAML document without errors, each a named Kubernetes object", () => {
    expect(yamlFiles.length).toBeGreaterThan(5);
    for (const { file, problems } of parsed) expect(problems, file).toEqual([]);
    for (const object of objects) {
      expect(object.apiVersion, JSON.stringify(object)).toMatch(/\S/);
      expect(object.kind).toMatch(/^[A-Z]\w+$/);
      expect(object.metadata.name).toMatch(/^[a-z0-9][a-z0-9-]*$/);
    }
  });

  it("lists every manifest in kustomization.yaml, except the example Secret", () => {
    const manifests = yamlFiles.filter((f) => f !== "kustomization.yaml");
    expect(kustomization.namespace).toMatch(/\S/);
    expect([...kustomization.resources].sort()).toEqual(manifests.filter((f) => f !== "secret.example.yaml"));
    // Applying placeholders over the real Secret would break every token at once.
    expect(kustomization.resources).not.toContain("secret.example.yaml");
    expect(Object.values(secretExample.stringData).every((v) => v.startsWith("REPLACE_ME"))).toBe(true);
  });

  it("uses only environment variables the worker knows, and valid values", () => {
    const used = [...Object.keys(envConfigMap.data), ...(container.env ?? []).map((e) => e.name)];
    expect(used.filter((name) => !schemaNames.has(name) && !RUNTIME_VARS.has(name))).toEqual([]);
    const result = envSchema.safeParse(envConfigMap.data);
    expect(result.error?.issues ?? []).toEqual([]);
    // The same start-up check `ingest-worker run` does: routes need their upstreams configured.
    const routes = parseRoutes(parseYaml(routesConfigMap().data[routesKey()]!));
    expect(() => requireUpstreams(env, routes)).not.toThrow();
  });

  it("takes every token and client secret from the Secret, never from the ConfigMap", () => {
    const secretVars = [...schemaNames].filter((name) => SECRET_NAME.test(name));
    expect(secretVars).toEqual(
      expect.arrayContaining(["INTAKE_TOKEN", "API_TOKEN", "NOTIFY_SECRET", "AIS_TOKEN"]),
    );
    expect(Object.keys(envConfigMap.data).filter((name) => SECRET_NAME.test(name))).toEqual([]);
    for (const name of secretVars) {
      const entry = (container.env ?? []).find((e) => e.name === name);
      expect(entry?.valueFrom?.secretKeyRef, name).toMatchObject({
        name: secretExample.metadata.name,
        key: name,
      });
      expect(secretExample.stringData[name], `${name} in secret.example.yaml`).toBeDefined();
    }
    // No token leaks in as a literal value either.
    expect((container.env ?? []).filter((e) => SECRET_NAME.test(e.name) && e.value !== undefined)).toEqual(
      [],
    );
  });

  it("mounts a valid routes file at ROUTES_FILE", () => {
    const routes = parseRoutes(parseYaml(routesConfigMap().data[routesKey()]!), "configmap-routes.yaml");
    expect(routes.routes.length).toBeGreaterThan(0);
    expect(env.ROUTES_FILE).toBeDefined();
  });

  it("serves health, readiness and metrics on HTTP_PORT through the port named http", () => {
    const http = container.ports?.find((p) => p.name === "http");
    expect(http?.containerPort).toBe(env.HTTP_PORT);
    expect(container.args).toEqual(["run"]);
    const portOk = (port: string | number | undefined) => port === "http" || port === env.HTTP_PORT;
    expect(container.livenessProbe?.httpGet?.path).toBe("/healthz");
    expect(container.readinessProbe?.httpGet?.path).toBe("/readyz");
    expect(portOk(container.livenessProbe?.httpGet?.port)).toBe(true);
    expect(portOk(container.readinessProbe?.httpGet?.port)).toBe(true);
    if (container.startupProbe) expect(container.startupProbe.httpGet?.path).toBe("/healthz");

    const service = one<
      K8sObject & { spec: { selector: Record<string, string>; ports: Record<string, unknown>[] } }
    >("Service");
    const servicePort = service.spec.ports.find((p) => p.name === "http");
    expect(servicePort).toBeDefined();
    expect(portOk(servicePort!.targetPort as string | number)).toBe(true);

    const monitor = one<
      K8sObject & {
        spec: {
          selector: { matchLabels: Record<string, string> };
          endpoints: { port: string; path: string }[];
        };
      }
    >("ServiceMonitor");
    expect(monitor.spec.endpoints).toEqual([expect.objectContaining({ port: "http", path: "/metrics" })]);
    expect(service.metadata.labels).toMatchObject(monitor.spec.selector.matchLabels);
    expect(pod).toBeDefined();
  });

  it("selects the Deployment's pods from the Service, PDB and ScaledObject", () => {
    const podLabels = deployment.spec.template.metadata.labels;
    expect(podLabels).toMatchObject(deployment.spec.selector.matchLabels);
    const service = one<K8sObject & { spec: { selector: Record<string, string> } }>("Service");
    expect(podLabels).toMatchObject(service.spec.selector);
    const pdb = one<K8sObject & { spec: { selector: { matchLabels: Record<string, string> } } }>(
      "PodDisruptionBudget",
    );
    expect(podLabels).toMatchObject(pdb.spec.selector.matchLabels);
    expect(scaledObject.spec.scaleTargetRef.name).toBe(deployment.metadata.name);
    // KEDA owns the replica count; a fixed one would be reset on every apply.
    expect(deployment.spec).not.toHaveProperty("replicas");
    const serviceAccount = one<K8sObject>("ServiceAccount");
    expect((pod as unknown as { serviceAccountName: string }).serviceAccountName).toBe(
      serviceAccount.metadata.name,
    );
  });

  it("gives SIGTERM more time than SHUTDOWN_TIMEOUT_MS", () => {
    expect(pod.terminationGracePeriodSeconds).toBeDefined();
    expect(pod.terminationGracePeriodSeconds! * 1000).toBeGreaterThan(env.SHUTDOWN_TIMEOUT_MS);
  });

  it("runs as non-root with a read-only root filesystem and bounded resources", () => {
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true });
    expect(container.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
    });
    expect(container.resources?.requests).toMatchObject({
      cpu: expect.any(String),
      memory: expect.any(String),
    });
    expect(container.resources?.limits?.memory).toBeDefined();
  });

  it("scales on the SQS queue the worker consumes and on waiting jobs in this namespace", () => {
    const sqs = scaledObject.spec.triggers.find((t) => t.type === "aws-sqs-queue");
    expect(sqs?.metadata.queueURL).toBe(env.SQS_QUEUE_URL);
    expect(env.SQS_QUEUE_URL).toContain(`sqs.${sqs!.metadata.awsRegion}.amazonaws.com`);
    const prometheus = scaledObject.spec.triggers.find((t) => t.type === "prometheus");
    const query = prometheus!.metadata.query!;
    expect(query).toMatch(/ingest_queue_jobs\{[^}]*state="waiting"/);
    expect(query).toContain(`namespace="${kustomization.namespace}"`);
    expect(Number(prometheus!.metadata.threshold)).toBeGreaterThan(0);
  });
});

describe("alerts and dashboard", () => {
  it("parse the dashboard: unique panel ids, a query on every graph", () => {
    expect(dashboard.uid).toBe("ingest-worker");
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const panel of dashboard.panels.filter((p) => p.type !== "row"))
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
  });

  it("query only metrics and labels the worker defines", async () => {
    const known = new Map([...defined, ...(await defaultMetrics())]);
    expect(defined.size).toBeGreaterThanOrEqual(15);
    const exprs = allExpressions();
    expect(exprs.length).toBeGreaterThan(20);
    const problems: string[] = [];
    for (const { where, expr } of exprs) {
      const result = checkExpression(where, expr, known);
      problems.push(...result.problems);
      if (result.count === 0) problems.push(`${where}: no metric in ${expr}`);
    }
    expect(problems).toEqual([]);
  });

  it("catches a metric or label the worker does not define (the check above can fail)", async () => {
    const known = new Map([...defined, ...(await defaultMetrics())]);
    const bad = checkExpression(
      "probe",
      'rate(ingest_ingests_failed_total[5m]) + ingest_queue_jobs{status="x"} + ingest_ingests_total_bucket + nope{a="b"}',
      known,
    ).problems;
    expect(bad).toEqual([
      "probe: ingest_ingests_failed_total is not a metric the worker defines",
      'probe: ingest_queue_jobs has no label "status"',
      "probe: ingest_ingests_total_bucket is not a metric the worker defines",
      "probe: nope is not a metric the worker defines",
    ]);
    const good = checkExpression(
      "probe",
      'histogram_quantile(0.9, sum by (le) (rate(ingest_end_to_end_duration_seconds_bucket{outcome="completed", job="x"}[5m]))) + ingest_nodejs_heap_size_used_bytes',
      known,
    );
    expect(good).toEqual({ problems: [], count: 2 });
  });

  it("give each alert a severity, a summary and a runbook heading in docs/operations.md", () => {
    expect(alerts.map((a) => a.alert)).toEqual(
      expect.arrayContaining([
        "IngestQueueStuck",
        "IngestFailureRateHigh",
        "IngestUpstreamErrors",
        "IngestRedisUnavailable",
      ]),
    );
    const headings = new Set([...operations.matchAll(/^#{2,4} (\S+)\s*$/gm)].map((m) => m[1]));
    for (const alert of alerts) {
      const name = alert.alert!;
      expect(headings.has(name), `runbook heading for ${name}`).toBe(true);
      expect(alert.labels?.severity, name).toMatch(/^(critical|warning|info)$/);
      expect(alert.annotations?.summary, name).toBeDefined();
      expect(alert.annotations?.runbook_url, name).toMatch(
        new RegExp(`docs/operations\\.md#${name.toLowerCase()}$`),
      );
    }
  });

  it("alert on a stuck queue per queue after 15 minutes, and on failures above 5% over 30 minutes", () => {
    const stuck = alerts.find((a) => a.alert === "IngestQueueStuck")!;
    expect(stuck.for).toBe("15m");
    expect(stuck.expr).toMatch(/by \(namespace, queue\)/);
    expect(stuck.expr).toMatch(/state="waiting"/);
    expect(stuck.expr).toMatch(/state="active"/);
    const failures = alerts.find((a) => a.alert === "IngestFailureRateHigh")!;
    expect(failures.expr).toMatch(/outcome="failed"\}\[30m\]/);
    expect(failures.expr).toMatch(/> 0\.05/);
  });
});

function routesConfigMap(): ConfigMap {
  const volume = pod.volumes?.find((v) => v.configMap && v.configMap.name !== envConfigMap.metadata.name);
  return one<ConfigMap>("ConfigMap", volume?.configMap?.name);
}

/** The ConfigMap key that ends up at ROUTES_FILE, found through the volume and its mount. */
function routesKey(): string {
  const volume = pod.volumes!.find((v) => v.configMap?.name === routesConfigMap().metadata.name)!;
  const mount = container.volumeMounts!.find((m) => m.name === volume.name)!;
  const items =
    volume.configMap!.items ?? Object.keys(routesConfigMap().data).map((key) => ({ key, path: key }));
  const item = items.find((i) =>
    mount.subPath
      ? mount.subPath === i.path && mount.mountPath === env.ROUTES_FILE
      : `${mount.mountPath}/${i.path}` === env.ROUTES_FILE,
  );
  expect(item, `a key of ${volume.configMap!.name} mounted at ${env.ROUTES_FILE}`).toBeDefined();
  return item!.key;
}
