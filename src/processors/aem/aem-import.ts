import { Job, UnrecoverableError } from "bullmq";
import {
  AEM_IMPORT_MAX_FILES,
  InvalidAemImportError,
  type AemAssetMetadata,
} from "../../adapters/aem/aem-adapter.js";
import { isUpstreamError } from "../../adapters/http/upstream-error.js";
import { jobId } from "../../queues/job-options.js";
import type { StepContext, StepResult } from "../../queues/step.js";
import type { IngestPackage } from "../../records/ingest-record.js";
import { AemBatch, aemBatchKeys } from "./aem-batch.js";
import {
  aemIndexTtlSeconds,
  indexAemJob,
  packageFiles,
  readAemFiles,
  saveAemFiles,
  type AemFile,
} from "./aem-files.js";
import { linkPackages } from "../../telemetry/tracing.js";
import type { ChainDeps } from "../every-target/deps.js";
import { pollDelay } from "../every-target/poll-delay.js";
import { defineHandler, type StepHandler } from "../step-table.js";

/** BullMQ states in which a job will still run (and so still finish its batch). */
const LIVE_STATES = new Set(["active", "waiting", "delayed", "prioritized", "waiting-children"]);

/** One request's worth of ingests and their files. */
interface Batch {
  byIngest: Map<string, AemFile[]>;
  overflow: string[];
  /** The metadata every package of the request shares (the seed has it per request only). */
  assetMetadata: AemAssetMetadata;
}

/** Sidecar fields a route's `aem.metadata` may name besides `metadata.<name>`. */
const PACKAGE_FIELDS = {
  title: (pkg: IngestPackage) => pkg.title,
  summary: (pkg: IngestPackage) => pkg.summary,
  // An empty list is "no categories", not a value worth writing as an empty multi-value property.
  categories: (pkg: IngestPackage) => (pkg.categories.length > 0 ? [...pkg.categories] : undefined),
  entryId: (pkg: IngestPackage) => pkg.entryId,
} satisfies Record<string, (pkg: IngestPackage) => string | string[] | undefined>;

const METADATA_PREFIX = "metadata.";

/**
 * A package's AEM metadata from a route's mapping (sidecar field → AEM property): `title`,
 * `summary`, `categories`, `entryId` and `metadata.<name>` (the sidecar's free-form metadata).
 * Unknown fields and fields the package lacks are skipped, so one sparse sidecar does not fail.
 */
export function aemAssetMetadata(
  pkg: IngestPackage,
  mapping: Readonly<Record<string, string>>,
): AemAssetMetadata {
  const out: AemAssetMetadata = {};
  for (const [field, property] of Object.entries(mapping)) {
    let value: string | string[] | undefined;
    if (field.startsWith(METADATA_PREFIX)) {
      const name = field.slice(METADATA_PREFIX.length);
      // Own properties only: a name like `constructor` must not reach the prototype.
      value = Object.hasOwn(pkg.metadata, name) ? pkg.metadata[name] : undefined;
    } else if (Object.hasOwn(PACKAGE_FIELDS, field)) {
      value = PACKAGE_FIELDS[field as keyof typeof PACKAGE_FIELDS](pkg);
    }
    if (value !== undefined) out[property] = value;
  }
  return out;
}

/** The route's mapping applied to the record's package (no route or no mapping: nothing). */
function metadataOf(deps: ChainDeps, routeName: string, pkg: IngestPackage): AemAssetMetadata {
  const route = deps.routes?.routes.find((r) => r.name === routeName);
  return route?.target === "aem" ? aemAssetMetadata(pkg, route.aem.metadata) : {};
}

/** Equal metadata gives an equal key whatever the property order. */
function metadataKey(metadata: AemAssetMetadata): string {
  return JSON.stringify(Object.entries(metadata).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * `aem-import`: one AEM import-from-URL request for the packages pending for a DAM folder.
 *
 * Claims pending ingests into the folder's in-flight batch (see {@link AemBatch}), packs as many
 * whole packages as fit in one request (≤ 300 files; the rest go back to the head of the queue
 * and a follow-up job takes them), imports, then marks each ingest `importing` with the AEM job id
 * and hands the job to `aem-poll`.
 */
export function createAemImportProcessor(deps: ChainDeps): StepHandler<"aem-import"> {
  return defineHandler("aem-import", async ({ folder }, ctx) => {
    const aem = deps.aem;
    if (!aem)
      throw new UnrecoverableError("aem-import needs the AEM adapter: set AEM_BASE_URL and AEM credentials");
    const owner = ctx.job.id ?? `aem-${folder}`;
    const batch = new AemBatch(deps.redis, aemBatchKeys(deps.prefix, folder), owner);

    let claim = await batch.claim(AEM_IMPORT_MAX_FILES);
    if (claim.kind === "busy") {
      if (await ownerIsLive(deps, claim.owner)) {
        // Another job is sending this folder's batch; what is still pending waits for the next turn.
        return {
          outcome: "waiting",
          delayMs: retryDelay(deps),
          reason: `folder busy with job ${claim.owner}`,
        };
      }
      // Its owner failed for good (or vanished): finish its batch instead of stranding it.
      if (await batch.takeOver(claim.owner))
        ctx.log.warn({ folder, deadOwner: claim.owner }, "took over AEM batch");
      claim = await batch.claim(AEM_IMPORT_MAX_FILES);
      if (claim.kind === "busy")
        return { outcome: "waiting", delayMs: retryDelay(deps), reason: "folder busy" };
    }
    if (claim.kind === "empty") return { outcome: "skipped", reason: `nothing pending for ${folder}` };

    const { byIngest, overflow, assetMetadata } = await buildBatch(deps, claim.ids, folder, ctx);
    await batch.giveBack(overflow);

    let aemJobId = claim.kind === "resume" ? claim.aemJobId : undefined;
    if (byIngest.size > 0 && aemJobId === undefined) {
      const files = [...byIngest.values()].flat();
      try {
        const accepted = await aem.importFromUrl({
          folder,
          files: files.map((f) => ({
            fileName: f.name,
            url: f.url,
            ...(f.mimeType !== undefined ? { mimeType: f.mimeType } : {}),
            ...(f.fileSize !== undefined ? { fileSize: f.fileSize } : {}),
          })),
          assetMetadata,
        });
        aemJobId = accepted.jobId;
      } catch (error) {
        return importFailed(deps, error, { batch, byIngest, ctx, folder });
      }
      // Before anything else: a crash from here on resumes with this job instead of importing again.
      await batch.setAemJob(aemJobId);
    }

    if (aemJobId !== undefined) await handOver(deps, aemJobId, byIngest, ctx);
    await batch.release();
    await followUp(deps, folder, owner, batch);
    return {
      outcome: "done",
      detail: aemJobId ? `AEM job ${aemJobId}: ${byIngest.size} ingests` : "no live ingest in the batch",
    };
  });
}

/**
 * Reads the claimed ingests and packs whole packages into one request. Ingests that ended
 * meanwhile (superseded, cancelled) are dropped; one that cannot be imported at all is failed.
 * The seed's `assetMetadata` applies to every file of a request, so only packages with equal
 * metadata share one: the first package whose metadata differs ends the batch like a full one
 * (with a per-package mapping such as `title`, that is one request per package).
 */
async function buildBatch(deps: ChainDeps, ids: string[], folder: string, ctx: StepContext): Promise<Batch> {
  const byIngest = new Map<string, AemFile[]>();
  const overflow: string[] = [];
  const taken = new Set<string>();
  const ttl = aemIndexTtlSeconds(deps.env.STUCK_DEADLINE_SECONDS);
  let count = 0;
  let assetMetadata: AemAssetMetadata = {};
  let batchKey: string | undefined;
  for (const id of ids) {
    if (overflow.length > 0) {
      // Keep the queue's order: once one package does not fit, the ones after it wait too.
      overflow.push(id);
      continue;
    }
    // The hand-off convention allows an id listed twice.
    if (byIngest.has(id)) continue;
    const record = await deps.records.get(id);
    if (!record || (await deps.records.isTerminal(id))) continue;
    linkPackages([record.traceparent]);
    if (!record.package) {
      await deps.records.fail(id, "aem-import: the ingest has no assembled package");
      continue;
    }
    if (record.package.tombstone) {
      await deps.records.fail(id, "aem-import: deleting assets is not supported for the aem target");
      continue;
    }
    // Files saved by an earlier attempt keep their names: a re-import must hit the same DAM paths.
    const saved = await readAemFiles(deps.redis, deps.records, id);
    const files = saved.length > 0 ? saved : packageFiles(record, new Set(taken));
    if (files.length === 0) {
      await deps.records.fail(id, "aem-import: the package has no video or image to import");
      continue;
    }
    if (files.length > AEM_IMPORT_MAX_FILES) {
      await deps.records.fail(
        id,
        `aem-import: the package has ${files.length} files; one AEM import takes at most ${AEM_IMPORT_MAX_FILES}`,
      );
      continue;
    }
    if (count + files.length > AEM_IMPORT_MAX_FILES) {
      overflow.push(id);
      continue;
    }
    const metadata = metadataOf(deps, record.route, record.package);
    const key = metadataKey(metadata);
    if (batchKey !== undefined && key !== batchKey) {
      overflow.push(id);
      continue;
    }
    batchKey = key;
    assetMetadata = metadata;
    for (const file of files) taken.add(file.name);
    count += files.length;
    await saveAemFiles(deps.redis, deps.records, deps.prefix, id, folder, files, ttl);
    byIngest.set(id, files);
  }
  if (overflow.length > 0)
    ctx.log.info(
      { folder, overflow: overflow.length },
      "AEM batch closed (full, or the next package's metadata differs); the rest waits",
    );
  return { byIngest, overflow, assetMetadata };
}

/** Records the AEM job on every ingest of the batch and starts polling it. */
async function handOver(
  deps: ChainDeps,
  aemJobId: string,
  byIngest: Map<string, AemFile[]>,
  ctx: StepContext,
): Promise<void> {
  const ttl = aemIndexTtlSeconds(deps.env.STUCK_DEADLINE_SECONDS);
  await indexAemJob(deps.redis, deps.prefix, aemJobId, byIngest, ttl);
  const now = deps.now();
  for (const [id, files] of byIngest) {
    await deps.records.setUpstream(id, { aemJobId });
    // Refused when a webhook already completed it (or it was superseded): that is fine.
    await deps.records.transition(id, "importing");
    await deps.records.step(id, "aem-import", {
      status: "done",
      startedAt: ctx.job.processedOn ?? now,
      endedAt: now,
      detail: `AEM job ${aemJobId}, ${files.length} files`,
    });
    await deps.records.history(id, "aem-import", `AEM import job ${aemJobId} accepted ${files.length} files`);
  }
  await deps.enqueue(
    "aem-poll",
    { aemJobId, ingestIds: [...byIngest.keys()], polls: 0 },
    { jobId: jobId("aemp", aemJobId), delay: deps.env.POLL_INITIAL_DELAY_MS },
  );
}

/**
 * What a failed import request means. Refusals (400, 403, a request the adapter will not send)
 * fail the batch's ingests. Anything else is retried by BullMQ with the batch still in flight; on
 * the last attempt the ingests are failed rather than left queued forever.
 *
 * An ambiguous failure (the request was sent, no answer seen) may have created an import job. Seed
 * 003 has `GET /import/jobs`, but its items are job statuses (id, state, progress, errors): they do
 * not name the files or URLs a job imports, so they cannot tell our job from any other, and the
 * adapter offers no lookup by content. The retry therefore imports again. The AEM file names are
 * deterministic (`<entryId>-<base name>` in the same folder), so a duplicate lands on the same DAM
 * path as the first; the seed does not say whether AEM then versions, replaces or renames the
 * asset, so a duplicate is possible in the DAM but never in the ingest records (they follow the
 * job this worker saw accepted).
 */
async function importFailed(
  deps: ChainDeps,
  error: unknown,
  scope: { batch: AemBatch; byIngest: Map<string, AemFile[]>; ctx: StepContext; folder: string },
): Promise<StepResult> {
  const { batch, byIngest, ctx, folder } = scope;
  const refused =
    error instanceof InvalidAemImportError ||
    (isUpstreamError(error) && !error.retryable && !error.ambiguous);
  const attempts = ctx.job.opts.attempts ?? 1;
  const lastAttempt = ctx.job.attemptsMade + 1 >= attempts;
  if (!refused && !lastAttempt) {
    if (isUpstreamError(error) && error.ambiguous) {
      ctx.log.warn({ folder, err: error.message }, "AEM import outcome unknown; the retry imports again");
    }
    throw error;
  }
  const reason = `aem-import: ${error instanceof Error ? error.message : String(error)}`;
  for (const id of byIngest.keys()) await deps.records.fail(id, reason);
  await batch.release();
  await followUp(deps, scope.folder, ctx.job.id ?? folder, batch);
  return { outcome: "done", detail: `import refused; ${byIngest.size} ingests failed` };
}

/** Ids pushed while this batch was out (or handed back) need a job of their own. */
async function followUp(deps: ChainDeps, folder: string, owner: string, batch: AemBatch): Promise<void> {
  if ((await batch.pendingCount()) === 0) return;
  await deps.enqueue(
    "aem-import",
    { folder },
    { jobId: jobId("aem", folder, "after", owner), delay: deps.env.ATOM_BATCH_MAX_WAIT_MS },
  );
}

async function ownerIsLive(deps: ChainDeps, owner: string): Promise<boolean> {
  const queue = deps.queues.get("aem-import");
  if (!queue) return true;
  const job = await Job.fromId(queue, owner);
  if (!job) return false;
  return LIVE_STATES.has(await job.getState());
}

function retryDelay(deps: ChainDeps): number {
  return pollDelay(2, { initialMs: deps.env.POLL_INITIAL_DELAY_MS, maxMs: deps.env.POLL_MAX_DELAY_MS }, () =>
    deps.random(),
  );
}
