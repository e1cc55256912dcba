import { readFileSync } from "node:fs";
import { ScaledObject } from "@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject";
import { TriggerAuthentication } from "@kubernetes-models/keda/keda.sh/v1alpha1/TriggerAuthentication";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Secret } from "kubernetes-models/v1/Secret";
import { Service } from "kubernetes-models/v1/Service";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import { beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml, parseAllDocuments } from "yaml";
import { envSchema } from "../../src/config/env.js";
import { parseEnv, requireUpstreams } from "../../src/config/load.js";
import { parseRoutes } from "../../src/config/routes.js";
import { helmBinary, runHelm } from "../support/helm.js";

/**
 * The Helm chart, rendered by a real helm (`helm template`, see test/support/helm.ts) with its
 * defaults and with every optional part on, each object validated against the Kubernetes JSON
 * schemas (kubernetes-models; KEDA and Prometheus Operator models for their CRDs), and checked
 * against the code it configures: the environment schema, the routes schema, the ports and probe
 * paths the worker serves. The schemas check types, required fields and enums, not unknown field
 * names, so the fields that matter are also asserted one by one.
 */
const CHART = "deploy/helm/ingest-worker";
const ALL_ON = `${CHART}/ci/all-on-values.yaml`;
const NAMESPACE = "ingest";
const RELEASE = "rel";
const FULLNAME = "rel-ingest-worker";
/** The chart requires Kubernetes 1.25+; helm template otherwise assumes its own default. */
const KUBE_VERSION = "1.30.0";

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}

type Probe = { httpGet: { path: string; port: string | number } };
interface Container {
  name: string;
  args?: string[];
  ports: { name: string; containerPort: number }[];
  envFrom: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  env: { name: string; value?: string }[];
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
  startupProbe: Probe;
  livenessProbe: Probe;
  readinessProbe: Probe;
  volumeMounts: { name: string; mountPath: string }[];
}
interface DeploymentObject extends K8sObject {
  spec: {
    replicas?: number;
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string> };
      spec: {
        terminationGracePeriodSeconds: number;
        containers: Container[];
        volumes: { name: string; configMap?: { name: string; items: { key: string; path: string }[] } }[];
      };
    };
  };
}
interface ServiceObject extends K8sObject {
  spec: { selector: Record<string, string>; ports: { name: string; port: number; targetPort: string }[] };
}

/** Each kind the chart may render, with the model whose schema validates it. */
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  "apps/v1/Deployment": Deployment,
  "v1/Service": Service,
  "v1/ConfigMap": ConfigMap,
  "v1/Secret": Secret,
  "v1/ServiceAccount": ServiceAccount,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget,
  "networking.k8s.io/v1/NetworkPolicy": NetworkPolicy,
  "autoscaling/v2/HorizontalPodAutoscaler": HorizontalPodAutoscaler,
  "keda.sh/v1alpha1/ScaledObject": ScaledObject,
  "keda.sh/v1alpha1/TriggerAuthentication": TriggerAuthentication,
  "monitoring.coreos.com/v1/ServiceMonitor": ServiceMonitor,
};

/** Schema problems of one object (empty when valid). */
function schemaProblems(object: K8sObject): string[] {
  const Model = MODELS[`${object.apiVersion}/${object.kind}`];
  if (!Model) return [`${object.apiVersion} ${object.kind}: no schema known to this test`];
  try {
    new Model(object as never).validate();
    return [];
  } catch (error) {
    return [`${object.kind} ${object.metadata.name}: ${(error as Error).message}`];
  }
}

const found = helmBinary();
const helm = "path" in found ? found.path : undefined;
/** The packaged helm is linux-amd64; elsewhere the test needs HELM_BIN and says so. */
const unsupported = !("path" in found) && !(process.platform === "linux" && process.arch === "x64");

async function template(...args: string[]): Promise<K8sObject[]> {
  const run = await runHelm(helm!, [
    "template",
    RELEASE,
    CHART,
    "--namespace",
    NAMESPACE,
    "--kube-version",
    KUBE_VERSION,
    ...args,
  ]);
  expect(run.ok, run.stderr).toBe(true);
  const docs = parseAllDocuments(run.stdout);
  for (const doc of docs) expect(doc.errors.map((e) => e.message)).toEqual([]);
  return docs.map((doc) => doc.toJS() as K8sObject | null).filter((o): o is K8sObject => o !== null);
}

/** helm's error when rendering must fail. */
async function refusal(...args: string[]): Promise<string> {
  const run = await runHelm(helm!, ["template", RELEASE, CHART, "--kube-version", KUBE_VERSION, ...args]);
  expect(run.ok, `rendered although it should not:\n${run.stdout.slice(0, 500)}`).toBe(false);
  return run.stderr;
}

function only<T extends K8sObject>(objects: K8sObject[], kind: string, name?: string): T {
  const matching = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  expect(matching, `${kind} ${name ?? ""}`).toHaveLength(1);
  return matching[0] as T;
}

function envOf(container: Container): Record<string, string> {
  return Object.fromEntries(
    container.env.filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]),
  );
}

/** The environment a pod of this rendering gets: its ConfigMap, its explicit env, then its Secret. */
function podEnvironment(objects: K8sObject[], container: Container): Record<string, string> {
  const configMap = only<K8sObject & { data: Record<string, string> }>(
    objects,
    "ConfigMap",
    container.envFrom.find((e) => e.configMapRef)!.configMapRef!.name,
  );
  const secretName = container.envFrom.find((e) => e.secretRef)?.secretRef?.name;
  const secret = secretName
    ? only<K8sObject & { stringData: Record<string, string> }>(objects, "Secret", secretName).stringData
    : {};
  // Kubernetes: env entries override envFrom; among envFrom sources the later one wins.
  return { ...configMap.data, ...secret, ...envOf(container) };
}

describe.skipIf(unsupported)("deploy/helm/ingest-worker", () => {
  beforeAll(() => {
    if (!helm) throw new Error(`no helm to render the chart: ${"missing" in found ? found.missing : ""}`);
  });

  it("passes helm lint --strict with its defaults and with everything on", async () => {
    for (const args of [[], ["-f", ALL_ON]]) {
      const run = await runHelm(helm!, ["lint", "--strict", CHART, ...args]);
      expect(run.ok, run.stdout + run.stderr).toBe(true);
      expect(run.stdout).toContain("0 chart(s) failed");
    }
  });

  it("validation can fail: a Deployment with a string port is refused by its schema", () => {
    const broken = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "x" },
      spec: {
        selector: {},
        template: { spec: { containers: [{ name: "w", ports: [{ containerPort: "http" }] }] } },
      },
    };
    expect(schemaProblems(broken as unknown as K8sObject).join("\n")).toMatch(
      /containerPort must be integer/,
    );
  });

  describe("with its defaults", () => {
    let objects: K8sObject[];
    let deployment: DeploymentObject;
    let container: Container;
    beforeAll(async () => {
      objects = await template();
      deployment = only<DeploymentObject>(objects, "Deployment");
      container = deployment.spec.template.spec.containers[0]!;
    });

    it("renders the core objects only, each valid against its Kubernetes schema", () => {
      expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(
        [
          `ConfigMap/${FULLNAME}-env`,
          `Deployment/${FULLNAME}`,
          `PodDisruptionBudget/${FULLNAME}`,
          `Service/${FULLNAME}`,
          `Service/${FULLNAME}-admin`,
          `ServiceAccount/${FULLNAME}`,
        ].sort(),
      );
      expect(objects.flatMap(schemaProblems)).toEqual([]);
    });

    it("gives the worker an environment it accepts, with the admin port split off", () => {
      const env = parseEnv(podEnvironment(objects, container));
      expect(env.ADMIN_PORT).toBeDefined();
      expect(env.ADMIN_PORT).not.toBe(env.HTTP_PORT);
      const port = (name: string) => container.ports.find((p) => p.name === name)?.containerPort;
      expect(port("http")).toBe(env.HTTP_PORT);
      expect(port("admin")).toBe(env.ADMIN_PORT);
      const names = [...container.env.map((e) => e.name)];
      expect(names.filter((name) => !(name in envSchema.shape) && name !== "NODE_OPTIONS")).toEqual([]);
      // No routes file given: none mounted, none named.
      expect(env.ROUTES_FILE).toBeUndefined();
      expect(deployment.spec.replicas).toBe(2);
    });

    it("probes /healthz and /readyz on the intake port and sleeps in preStop", () => {
      expect(container.args).toEqual(["run"]);
      expect(container.startupProbe.httpGet).toEqual({ path: "/healthz", port: "http" });
      expect(container.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "http" });
      expect(container.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "http" });
      expect(container.lifecycle?.preStop?.exec?.command).toEqual(["sleep", "5"]);
    });

    it("gives SIGKILL room for the preStop sleep, the delay, the drain and closing", () => {
      const env = parseEnv(podEnvironment(objects, container));
      const preStopMs = Number(container.lifecycle!.preStop!.exec!.command[1]) * 1000;
      const graceMs = deployment.spec.template.spec.terminationGracePeriodSeconds * 1000;
      expect(graceMs).toBeGreaterThan(preStopMs + env.SHUTDOWN_DELAY_MS + env.SHUTDOWN_TIMEOUT_MS + 5000);
    });

    it("selects the Deployment's pods from both Services and the PDB, on the right ports", () => {
      const podLabels = deployment.spec.template.metadata.labels;
      expect(podLabels).toMatchObject(deployment.spec.selector.matchLabels);
      const intake = only<ServiceObject>(objects, "Service", FULLNAME);
      const admin = only<ServiceObject>(objects, "Service", `${FULLNAME}-admin`);
      for (const service of [intake, admin]) expect(podLabels).toMatchObject(service.spec.selector);
      expect(intake.spec.ports.map((p) => p.targetPort)).toEqual(["http"]);
      expect(admin.spec.ports.map((p) => p.targetPort)).toEqual(["admin"]);
      const pdb = only<K8sObject & { spec: { selector: { matchLabels: Record<string, string> } } }>(
        objects,
        "PodDisruptionBudget",
      );
      expect(podLabels).toMatchObject(pdb.spec.selector.matchLabels);
    });
  });

  describe("with everything on (ci/all-on-values.yaml)", () => {
    let objects: K8sObject[];
    let deployment: DeploymentObject;
    let container: Container;
    beforeAll(async () => {
      objects = await template("-f", ALL_ON);
      deployment = only<DeploymentObject>(objects, "Deployment");
      container = deployment.spec.template.spec.containers[0]!;
    });

    it("renders KEDA, ServiceMonitor, NetworkPolicy, Secret and routes, each valid against its schema", () => {
      const kinds = new Set(objects.map((o) => o.kind));
      for (const kind of [
        "ScaledObject",
        "TriggerAuthentication",
        "ServiceMonitor",
        "NetworkPolicy",
        "Secret",
      ])
        expect(kinds, kind).toContain(kind);
      expect(kinds).not.toContain("HorizontalPodAutoscaler");
      expect(objects.flatMap(schemaProblems)).toEqual([]);
    });

    it("mounts routes the worker accepts and an environment whose routes have their upstreams", () => {
      const env = parseEnv(podEnvironment(objects, container));
      expect(env.ROUTES_FILE).toBe("/etc/ingest-worker/routes.yaml");
      expect(container.volumeMounts).toContainEqual(
        expect.objectContaining({ name: "routes", mountPath: "/etc/ingest-worker" }),
      );
      const volume = deployment.spec.template.spec.volumes.find((v) => v.name === "routes")!;
      const routesMap = only<K8sObject & { data: Record<string, string> }>(
        objects,
        "ConfigMap",
        volume.configMap!.name,
      );
      const item = volume.configMap!.items[0]!;
      expect(item.path).toBe("routes.yaml");
      const routes = parseRoutes(parseYaml(routesMap.data[item.key]!), "routes ConfigMap");
      expect(routes.routes.map((r) => r.target).sort()).toEqual(["aem", "asset-management", "vimond"]);
      expect(() => requireUpstreams(env, routes)).not.toThrow();
      // Tokens come from the Secret, through envFrom, never from the ConfigMap.
      expect(container.envFrom.find((e) => e.secretRef)?.secretRef?.name).toBe(FULLNAME);
      expect(env.API_TOKEN).toBe("example-api-token");
      expect(env.SHUTDOWN_DELAY_MS).toBe(1000);
    });

    it("leaves the replica count to KEDA, which scales on the worker's SQS queue and waiting jobs", () => {
      expect(deployment.spec).not.toHaveProperty("replicas");
      const scaled = only<
        K8sObject & {
          spec: {
            scaleTargetRef: { name: string };
            triggers: {
              type: string;
              metadata: Record<string, string>;
              authenticationRef?: { name: string };
            }[];
          };
        }
      >(objects, "ScaledObject");
      expect(scaled.spec.scaleTargetRef.name).toBe(deployment.metadata.name);
      const env = parseEnv(podEnvironment(objects, container));
      const sqs = scaled.spec.triggers.find((t) => t.type === "aws-sqs-queue")!;
      expect(sqs.metadata.queueURL).toBe(env.SQS_QUEUE_URL);
      only(objects, "TriggerAuthentication", sqs.authenticationRef!.name);
      const query = scaled.spec.triggers.find((t) => t.type === "prometheus")!.metadata.query!;
      // The gauge src/metrics/queue-depth.ts defines, in this namespace, under the scrape's job.
      expect(readFileSync("src/metrics/queue-depth.ts", "utf8")).toContain('name: "ingest_queue_jobs"');
      expect(query).toBe(
        `sum(max by (queue) (ingest_queue_jobs{namespace="${NAMESPACE}", job="ingest-worker", state="waiting"}))`,
      );
    });

    it("scrapes /metrics on the admin Service, with the job named by the label the alerts use", () => {
      const monitor = only<
        K8sObject & {
          spec: {
            jobLabel: string;
            selector: { matchLabels: Record<string, string> };
            endpoints: { port: string; path: string }[];
          };
        }
      >(objects, "ServiceMonitor");
      const services = objects.filter((o): o is ServiceObject => o.kind === "Service");
      const selected = services.filter((s) =>
        Object.entries(monitor.spec.selector.matchLabels).every(([k, v]) => s.metadata.labels?.[k] === v),
      );
      expect(selected.map((s) => s.metadata.name)).toEqual([`${FULLNAME}-admin`]);
      expect(monitor.spec.endpoints).toEqual([expect.objectContaining({ port: "admin", path: "/metrics" })]);
      expect(selected[0]!.spec.ports.map((p) => p.name)).toContain("admin");
      // deploy/kubernetes/prometheusrule.yaml and the dashboard select job="ingest-worker".
      expect(selected[0]!.metadata.labels?.[monitor.spec.jobLabel]).toBe("ingest-worker");
      expect(monitor.metadata.labels).toMatchObject({ release: "prometheus" });
    });

    it("opens the intake port to all, the admin port only to the given selector, egress to DNS, Redis, HTTPS", () => {
      const policy = only<
        K8sObject & {
          spec: {
            podSelector: { matchLabels: Record<string, string> };
            policyTypes: string[];
            ingress: { ports: { port: string | number }[]; from?: unknown[] }[];
            egress: { ports: { port: number; protocol: string }[]; to?: unknown[] }[];
          };
        }
      >(objects, "NetworkPolicy");
      expect(deployment.spec.template.metadata.labels).toMatchObject(policy.spec.podSelector.matchLabels);
      expect(policy.spec.policyTypes).toEqual(["Ingress", "Egress"]);
      const rule = (port: string) => policy.spec.ingress.find((r) => r.ports.some((p) => p.port === port));
      expect(rule("http")).toBeDefined();
      expect(rule("http")!.from).toBeUndefined();
      const values = parseYaml(readFileSync(ALL_ON, "utf8")) as { networkPolicy: { adminFrom: unknown[] } };
      expect(rule("admin")!.from).toEqual(values.networkPolicy.adminFrom);
      const egressPorts = policy.spec.egress.flatMap((r) => r.ports.map((p) => `${p.port}/${p.protocol}`));
      expect(egressPorts).toEqual(expect.arrayContaining(["53/UDP", "53/TCP", "6379/TCP", "443/TCP"]));
      const redis = policy.spec.egress.find((r) => r.ports.some((p) => p.port === 6379))!;
      expect(redis.to).toEqual([
        { podSelector: { matchLabels: { "app.kubernetes.io/name": "ingest-redis" } } },
      ]);
    });
  });

  it("reads an existing Secret and an existing routes ConfigMap instead of creating them", async () => {
    const objects = await template(
      "--set",
      "secrets.existingSecret=ops-tokens",
      "--set",
      "routes.existingConfigMap=ops-routes",
      "--set",
      "routes.existingKey=prod.yaml",
    );
    expect(objects.filter((o) => o.kind === "Secret")).toEqual([]);
    expect(objects.filter((o) => o.kind === "ConfigMap").map((o) => o.metadata.name)).toEqual([
      `${FULLNAME}-env`,
    ]);
    const spec = only<DeploymentObject>(objects, "Deployment").spec.template.spec;
    const container = spec.containers[0]!;
    // The Secret after the ConfigMap: on a key in both, Kubernetes takes the later source.
    expect(container.envFrom).toEqual([
      { configMapRef: { name: `${FULLNAME}-env` } },
      { secretRef: { name: "ops-tokens" } },
    ]);
    expect(spec.volumes.find((v) => v.name === "routes")?.configMap).toEqual({
      name: "ops-routes",
      items: [{ key: "prod.yaml", path: "routes.yaml" }],
    });
    expect(envOf(container).ROUTES_FILE).toBe("/etc/ingest-worker/routes.yaml");
    expect(objects.flatMap(schemaProblems)).toEqual([]);
  });

  it("with hpa.enabled renders a valid CPU HorizontalPodAutoscaler in charge of the replicas", async () => {
    const objects = await template("--set", "hpa.enabled=true");
    const hpa = only<K8sObject & { spec: { scaleTargetRef: { kind: string; name: string } } }>(
      objects,
      "HorizontalPodAutoscaler",
    );
    expect(hpa.spec.scaleTargetRef).toMatchObject({ kind: "Deployment", name: FULLNAME });
    expect(only<DeploymentObject>(objects, "Deployment").spec).not.toHaveProperty("replicas");
    expect(objects.flatMap(schemaProblems)).toEqual([]);
  });

  it("with admin.enabled=false serves and scrapes everything on the intake port", async () => {
    const objects = await template("--set", "admin.enabled=false", "--set", "serviceMonitor.enabled=true");
    expect(objects.filter((o) => o.kind === "Service").map((o) => o.metadata.name)).toEqual([FULLNAME]);
    const container = only<DeploymentObject>(objects, "Deployment").spec.template.spec.containers[0]!;
    expect(container.ports.map((p) => p.name)).toEqual(["http"]);
    expect(parseEnv(podEnvironment(objects, container)).ADMIN_PORT).toBeUndefined();
    const monitor = only<K8sObject & { spec: { endpoints: { port: string }[] } }>(objects, "ServiceMonitor");
    expect(monitor.spec.endpoints.map((e) => e.port)).toEqual(["http"]);
    expect(objects.flatMap(schemaProblems)).toEqual([]);
  });

  it("refuses values that would misbehave: a token in the ConfigMap, too short a grace period, KEDA and HPA", async () => {
    expect(await refusal("--set", "env.API_TOKEN=leak")).toMatch(
      /env\.API_TOKEN is a secret: put it in the Secret/,
    );
    expect(await refusal("--set", "env.HTTP_PORT=9000")).toMatch(/env\.HTTP_PORT is set by the chart/);
    expect(await refusal("--set", "terminationGracePeriodSeconds=25")).toMatch(
      /terminationGracePeriodSeconds \(25 s\) must exceed .* = 30000 ms/,
    );
    expect(await refusal("--set", "keda.enabled=true", "--set", "hpa.enabled=true")).toMatch(/choose one/);
    expect(await refusal("--set", "keda.enabled=true")).toMatch(/keda\.sqs needs keda\.sqs\.queueURL/);
    expect(await refusal("--set", "admin.port=8080")).toMatch(/admin\.port must differ from http\.port/);
  });
});
