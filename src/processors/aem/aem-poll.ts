import { Job, UnrecoverableError, type Queue } from "bullmq";
import type { Redis } from "ioredis";
import type { AemImportResultItem, AemJobStatus } from "../../adapters/aem/aem-adapter.js";
import { isUpstreamError } from "../../adapters/http/upstream-error.js";
import type { StepContext } from "../../queues/step.js";
import { jobId } from "../../queues/job-options.js";
import { readAemFiles, setAemFileStates } from "./aem-files.js";
import type { ChainDeps } from "../every-target/deps.js";
import { pollDelay } from "../every-target/poll-delay.js";
import { defineHandler, type StepHandler } from "../step-table.js";

/**
 * `aem-poll`: follows an AEM import job until it settles, then maps the result's per-file items
 * onto the ingests of the batch: every file imported → completed; any file failed → failed,
 * naming the files ("poster.jpg: <error>").
 *
 * Polls are conditional (`If-None-Match` with the last ETag, kept in the payload), and never come
 * sooner than the server's `Retry-After`. The CloudEvents webhook may complete ingests first; they
 * are terminal by then and this step leaves them alone.
 */
export function createAemPollProcessor(deps: ChainDeps): StepHandler<"aem-poll"> {
  return defineHandler("aem-poll", async (payload, ctx) => {
    const aem = deps.aem;
    if (!aem)
      throw new UnrecoverableError("aem-poll needs the AEM adapter: set AEM_BASE_URL and AEM credentials");
    const { aemJobId, polls } = payload;
    const live = await liveIngests(deps, aemJobId, payload.ingestIds);
    if (live.length === 0) return { outcome: "skipped", reason: "every ingest of the job already ended" };

    const now = deps.now();
    const startedAt = payload.startedAt ?? now;
    const deadlineMs = deps.env.STUCK_DEADLINE_SECONDS * 1000;
    if (now - startedAt > deadlineMs) {
      const reason = `aem-poll: AEM import job ${aemJobId} did not settle within ${deps.env.STUCK_DEADLINE_SECONDS} s`;
      for (const id of live) await deps.records.fail(id, reason);
      return { outcome: "done", detail: "stuck" };
    }

    let status: AemJobStatus;
    try {
      status = await aem.getStatus(aemJobId, payload.etag);
    } catch (error) {
      if (isUpstreamError(error) && error.status === 404) {
        // The job is gone (or never existed): no later poll can tell what happened to the files.
        for (const id of live)
          await deps.records.fail(id, `aem-poll: AEM import job ${aemJobId} not found (404)`);
        return { outcome: "done", detail: "job not found" };
      }
      throw error;
    }

    if (status.kind !== "done") {
      const etag = status.kind === "processing" ? (status.etag ?? payload.etag) : payload.etag;
      const backoff = pollDelay(
        polls,
        { initialMs: deps.env.POLL_INITIAL_DELAY_MS, maxMs: deps.env.POLL_MAX_DELAY_MS },
        () => deps.random(),
      );
      // An event came while this poll was reading, so AEM may have settled since the read: look
      // again soon rather than after the backoff (the server's Retry-After still holds).
      const hinted = (await deps.redis.del(aemPollHintKey(deps.prefix, aemJobId))) === 1;
      // The server's Retry-After is a floor: looking earlier only earns another "processing".
      const delayMs = hinted
        ? (status.retryAfterMs ?? HINTED_LOOK_AGAIN_MS)
        : Math.max(backoff, status.retryAfterMs ?? 0);
      await ctx.job.updateData({
        ...payload,
        polls: polls + 1,
        startedAt,
        ...(etag !== undefined ? { etag } : {}),
      });
      return { outcome: "waiting", delayMs, reason: status.kind };
    }

    const { items } = await aem.getResult(aemJobId);
    const byName = new Map(items.map((item) => [item.fileName, item]));
    let completed = 0;
    for (const id of live) if (await settle(deps, id, byName, aemJobId, ctx)) completed += 1;
    return { outcome: "done", detail: `${completed}/${live.length} ingests completed` };
  });
}

/** The poll job of one AEM import job: one per AEM job, so an event about the job can find it. */
export function aemPollJobId(aemJobId: string): string {
  return jobId("aemp", aemJobId);
}

/** Marks that an event about the job came while its poll was running (see {@link hurryAemPoll}). */
export function aemPollHintKey(prefix: string, aemJobId: string): string {
  return `${prefix}:aem-hinted:${aemJobId}`;
}

/** How soon a poll that was hinted while reading looks again, when AEM sends no Retry-After. */
const HINTED_LOOK_AGAIN_MS = 1_000;
/** The mark outlives any poll it is meant for; a job that settled meanwhile leaves it to expire. */
const HINT_MARK_SECONDS = 300;

/** What {@link hurryAemPoll} did. */
export type HurryOutcome = "promoted" | "pending" | "missing";

/** Where {@link hurryAemPoll} finds the job's poll and leaves its mark. */
export interface HurryTarget {
  queue: Queue;
  redis: Redis;
  prefix: string;
}

/**
 * Runs an AEM job's poll now rather than when its delay ends: the poll reads the job from AEM and
 * acts on what AEM says, which is why an unauthenticated event may ask for it. `pending`: the poll
 * is already due or running (a running one is marked to look again soon); `missing`: there is no
 * poll (not handed over yet, or over).
 */
export async function hurryAemPoll(target: HurryTarget, aemJobId: string): Promise<HurryOutcome> {
  const job = await Job.fromId(target.queue, aemPollJobId(aemJobId));
  if (!job) return "missing";
  const state = await job.getState();
  if (state === "active") {
    // Its read may predate the event: the mark makes it look again soon instead of backing off.
    await target.redis.set(aemPollHintKey(target.prefix, aemJobId), "1", "EX", HINT_MARK_SECONDS);
    return "pending";
  }
  if (state === "waiting" || state === "prioritized") return "pending";
  if (state !== "delayed") return "missing";
  try {
    await job.promote();
    return "promoted";
  } catch {
    // Its delay ran out (or a worker took it) between the two calls: it is running anyway.
    return "pending";
  }
}

/** The batch's ingests that are still open and still belong to this AEM job. */
async function liveIngests(deps: ChainDeps, aemJobId: string, ids: string[]): Promise<string[]> {
  const live: string[] = [];
  for (const id of ids) {
    const record = await deps.records.get(id);
    if (!record || (await deps.records.isTerminal(id))) continue;
    // A later import of the same ingest (a retry after an ambiguous failure) owns it now.
    if (record.upstream.aemJobId !== undefined && record.upstream.aemJobId !== aemJobId) continue;
    live.push(id);
  }
  return live;
}

function imported(item: AemImportResultItem | undefined): boolean {
  if (!item) return false;
  // An unrecognised item state still counts when AEM named the asset it created.
  return item.state === "imported" || (item.state === "unknown" && item.assetId !== undefined);
}

/** Ends one ingest from the job's result. Returns whether it completed. */
async function settle(
  deps: ChainDeps,
  id: string,
  byName: ReadonlyMap<string, AemImportResultItem>,
  aemJobId: string,
  ctx: StepContext,
): Promise<boolean> {
  const files = await readAemFiles(deps.redis, deps.records, id);
  if (files.length === 0) {
    await deps.records.fail(id, `aem-poll: no file list recorded for AEM job ${aemJobId}`);
    return false;
  }
  const states = new Map<string, "imported" | "failed">();
  const failures: string[] = [];
  for (const file of files) {
    const item = byName.get(file.name);
    if (imported(item)) {
      states.set(file.name, "imported");
      continue;
    }
    states.set(file.name, "failed");
    const why = item?.error ?? (item ? `state ${item.state}` : "missing from the import result");
    failures.push(`${file.label}: ${why}`);
  }
  await setAemFileStates(deps.redis, deps.records, id, states);
  if (failures.length > 0) {
    await deps.records.fail(id, failures.join("; "));
    ctx.log.info({ ingestId: id, aemJobId, failed: failures.length }, "AEM import failed files");
    return false;
  }
  return deps.records.transition(id, "completed");
}
