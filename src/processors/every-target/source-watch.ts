import type { Route } from "../../config/routes.js";
import { objectVersionKey, type ObjectEvent } from "../../intake/object-event.js";
import { eventsDropped, eventsUnrouted } from "../../metrics/ingest-metrics.js";
import type { SourceWatchPayload } from "../../queues/payloads.js";
import type { StepContext, StepResult } from "../../queues/step.js";
import { runOf, TERMINAL_STATES, type IngestPackage, type StepTiming } from "../../records/ingest-record.js";
import { matchRoute } from "../../routing/match-route.js";
import { assembleManifest, assembleMedia, tombstonePackage, type Assembly } from "./assemble-package.js";
import type { ChainDeps } from "./deps.js";
import { ATTR, annotateActiveSpan } from "../../telemetry/tracing.js";
import { handOff } from "./hand-off.js";
import { entryIdKey, keySlug, packageIdOf } from "./package-identity.js";
import { pollDelay } from "./poll-delay.js";
import { isStaleEvent } from "./stale-events.js";
import { defineHandler, type StepHandler } from "../step-table.js";

const STEP_NAME = "source-watch";
/** source-watch statuses after which a record is no longer this step's to work on. */
const FINISHED: ReadonlySet<StepTiming["status"]> = new Set(["done", "failed", "skipped"]);

/** `run`: which run of the ingest this is (see `runOf`); its follow-on job ids carry it. */
type Begin = { go: true; created: boolean; run: number } | { go: false; result: StepResult };

/** `versionId`, else `eTag`, else the sequencer: what identifies this version in the record. */
function versionOf(event: ObjectEvent): string {
  return event.versionId ?? event.eTag ?? event.sequencer ?? "-";
}

/**
 * The `bucket` label of an unrouted event: the bucket when a route names it, else "other". Events
 * come from intake requests, so a sender must not be able to grow the metric's label set.
 */
function unroutedLabel(deps: ChainDeps, bucket: string): string {
  return deps.routes?.routes.some((route) => route.bucket === bucket) ? bucket : "other";
}

/**
 * Creates the record, or decides whether an existing one is still ours to continue: the same
 * job re-running after a wait or a crash (source-watch not finished) continues; anything else is
 * a duplicate delivery. A new record becomes its package's current ingest and supersedes the
 * previous one, unless the previous one is the newer version (events arriving out of order
 * without sequencers, e.g. from the poller).
 */
async function begin(
  deps: ChainDeps,
  route: Route,
  event: ObjectEvent,
  id: string,
  payload: SourceWatchPayload,
  startedAt: number,
): Promise<Begin> {
  const { records } = deps;
  const eventAt = Date.parse(event.eventTime);
  const running: StepTiming = { status: "running", startedAt };
  const created = await records.create({
    id,
    route: route.name,
    target: route.target,
    bucket: event.bucket,
    key: event.key,
    version: versionOf(event),
    eventAt,
    fields: { [`step:${STEP_NAME}`]: JSON.stringify(running) },
  });
  if (!created) {
    const existing = await records.get(id);
    const status = existing?.steps[STEP_NAME]?.status;
    if (
      existing !== undefined &&
      !TERMINAL_STATES.has(existing.state) &&
      (status === undefined || !FINISHED.has(status))
    )
      return { go: true, created: false, run: runOf(existing) };
    if (payload.polls > 0)
      return { go: false, result: { outcome: "skipped", reason: `ingest is ${existing?.state ?? "gone"}` } };
    eventsDropped.inc({ reason: "duplicate" });
    if (existing !== undefined)
      await records.history(id, STEP_NAME, `duplicate ${event.source} delivery ignored`);
    return { go: false, result: { outcome: "skipped", reason: `duplicate of ingest ${id}` } };
  }

  const packageId = packageIdOf(route.name, event.bucket, event.key);
  const previous = await records.swapCurrent(packageId, id);
  if (previous !== undefined && previous !== id) {
    const prior = await records.get(previous);
    if (prior !== undefined && prior.eventAt > eventAt) {
      await records.swapCurrent(packageId, previous);
      await records.history(id, STEP_NAME, `older than ingest ${previous}, which stays current`);
      await records.transition(id, "superseded");
      return { go: false, result: { outcome: "skipped", reason: `older than ingest ${previous}` } };
    }
    if (await records.transition(previous, "superseded"))
      await records.history(previous, STEP_NAME, `superseded by ingest ${id}`);
    await records.history(id, STEP_NAME, `newer version of ingest ${previous}`);
  }
  return { go: true, created: true, run: 0 };
}

/**
 * Drops an event older than one already seen for its key. Its record exists only when an operator
 * retry re-opened it (as `received`, see RecordStore.reopen): left so, it would never end, so it
 * is closed as superseded (the newer event is a newer version of the package).
 */
async function dropStale(deps: ChainDeps, event: ObjectEvent): Promise<StepResult> {
  const reason = "stale: a newer event for this key was seen";
  eventsDropped.inc({ reason: "stale" });
  await deps.records.update(objectVersionKey(event), {
    transition: { to: "superseded", from: ["received"] },
    history: [{ step: STEP_NAME, message: `${reason}; not run again` }],
  });
  return { outcome: "skipped", reason };
}

/**
 * A delete event is a claim, not a fact: a forged or replayed one, or one overtaken by a newer
 * put, would unpublish a live asset. S3 is asked (HEAD without a version: what a reader gets
 * now); only a 404, which S3 also answers when the newest version is a delete marker, counts as
 * gone. When the object is still there nothing is unpublished (`undefined` means go ahead):
 * the drop is counted and logged, and a record of this delete that is still open (an operator
 * retry of a tombstone, a crashed run) is closed as superseded by the version that is there.
 */
async function deleteNotApplied(
  deps: ChainDeps,
  event: ObjectEvent,
  id: string,
  ctx: StepContext,
): Promise<StepResult | undefined> {
  const head = await deps.s3.head(event.bucket, event.key);
  if (!head.exists) return undefined;
  const version = head.versionId ?? head.eTag;
  const reason = `delete not applied: s3://${event.bucket}/${event.key} still exists (version ${version})`;
  eventsDropped.inc({ reason: "not-gone" });
  ctx.log.info(
    { bucket: event.bucket, key: event.key, eventName: event.eventName, source: event.source, version },
    "delete ignored: the object is still there",
  );
  // A missing record is left alone (nothing written); a terminal one only gets the history line.
  await deps.records.update(id, {
    transition: { to: "superseded" },
    history: [{ step: STEP_NAME, message: reason }],
  });
  return { outcome: "skipped", reason };
}

/** Why a manifest waits, or undefined when its wait is over (then the ingest fails). */
async function waitForObjects(
  deps: ChainDeps,
  id: string,
  event: ObjectEvent,
  missing: string[],
  payload: SourceWatchPayload,
  ctx: StepContext,
): Promise<StepResult | undefined> {
  const now = deps.now();
  const startedAt = payload.startedAt ?? now;
  const deadline = startedAt + deps.env.MANIFEST_WAIT_SECONDS * 1000;
  if (now >= deadline) return undefined;
  const list = missing.map((k) => JSON.stringify(k)).join(", ");
  if (payload.polls === 0) {
    await deps.records.transition(id, "waiting-objects", { from: ["received"] });
    await deps.records.history(id, STEP_NAME, `waiting for ${list} in s3://${event.bucket}`);
  }
  await ctx.job.updateData({ ...payload, polls: payload.polls + 1, startedAt });
  const delay = pollDelay(
    payload.polls,
    { initialMs: deps.env.POLL_INITIAL_DELAY_MS, maxMs: deps.env.POLL_MAX_DELAY_MS },
    () => deps.random(),
  );
  // Never sleep past the deadline: the next run is the one that fails the ingest.
  return {
    outcome: "waiting",
    delayMs: Math.max(1, Math.min(delay, deadline - now)),
    reason: `waiting for ${list}`,
  };
}

async function timing(
  deps: ChainDeps,
  id: string,
  status: StepTiming["status"],
  startedAt: number,
  detail?: string,
) {
  await deps.records.step(id, STEP_NAME, {
    status,
    startedAt,
    ...(status !== "running" ? { endedAt: deps.now() } : {}),
    ...(detail !== undefined ? { detail } : {}),
  });
}

async function assemble(
  deps: ChainDeps,
  route: Route,
  event: ObjectEvent,
  packageId: string,
): Promise<Assembly> {
  if (event.kind === "removed") {
    // The entry id the package had upstream; a sidecar's id is only known if a version was assembled.
    const known = await deps.redis.get(entryIdKey(deps.prefix, packageId));
    return { kind: "package", pkg: tombstonePackage(known ?? keySlug(event.key), event) };
  }
  return route.trigger === "manifest"
    ? assembleManifest(deps, route, event)
    : assembleMedia(deps, route, event);
}

/**
 * `source-watch`: from one object event to an ingest record handed to its target. Drops stale and
 * duplicate events, matches a route, assembles the package (sidecar or media), waits (by
 * re-delaying itself) for objects a sidecar names, and fails the ingest with a precise reason for
 * bad input instead of retrying it. Only S3 and Redis errors are thrown (and retried).
 */
export function createSourceWatchProcessor(deps: ChainDeps): StepHandler<"source-watch"> {
  return defineHandler("source-watch", async (payload, ctx) => {
    const { event } = payload;
    const isDelete = event.kind === "removed";
    // A delete only peeks at the sequencer: it is kept below, once the object is known to be gone.
    if (payload.polls === 0 && (await isStaleEvent(deps.redis, deps.prefix, event, { peek: isDelete })))
      return dropStale(deps, event);
    const match = matchRoute(deps.routes, event);
    if (match === undefined) {
      eventsUnrouted.inc({ bucket: unroutedLabel(deps, event.bucket) });
      return { outcome: "skipped", reason: "no route" };
    }
    if (match.role === "member") return { outcome: "skipped", reason: `member of route ${match.route.name}` };
    const { route } = match;
    if (isDelete && route.deletes === "ignore")
      return { outcome: "skipped", reason: `route ${route.name} ignores deletes` };

    const id = objectVersionKey(event);
    annotateActiveSpan({ [ATTR.ingestId]: id, [ATTR.bucket]: event.bucket, [ATTR.key]: event.key });
    if (isDelete) {
      const present = await deleteNotApplied(deps, event, id, ctx);
      if (present !== undefined) return present;
      if (payload.polls === 0 && (await isStaleEvent(deps.redis, deps.prefix, event)))
        return dropStale(deps, event);
    }
    const startedAt = deps.now();
    const started = await begin(deps, route, event, id, payload, startedAt);
    if (!started.go) return started.result;
    // A new record got its "running" timing when it was created. Failures below need no log line
    // of their own: the record store writes the one warn line of every failed ingest.
    if (!started.created) await timing(deps, id, "running", startedAt);

    const packageId = packageIdOf(route.name, event.bucket, event.key);
    const assembly = await assemble(deps, route, event, packageId);
    switch (assembly.kind) {
      case "invalid":
        await deps.records.fail(id, assembly.reason);
        await timing(deps, id, "failed", startedAt, assembly.reason);
        return { outcome: "done", detail: "failed: bad input" };
      case "replaced":
        await deps.records.history(id, STEP_NAME, assembly.reason);
        await deps.records.transition(id, "superseded");
        await timing(deps, id, "skipped", startedAt, assembly.reason);
        return { outcome: "skipped", reason: assembly.reason };
      case "missing": {
        const waiting = await waitForObjects(deps, id, event, assembly.keys, payload, ctx);
        if (waiting !== undefined) {
          await timing(
            deps,
            id,
            "waiting",
            startedAt,
            waiting.outcome === "waiting" ? waiting.reason : undefined,
          );
          return waiting;
        }
        const reason = `sidecar s3://${event.bucket}/${event.key}: objects not found after ${deps.env.MANIFEST_WAIT_SECONDS}s: ${assembly.keys.map((k) => JSON.stringify(k)).join(", ")}`;
        await deps.records.fail(id, reason);
        await timing(deps, id, "failed", startedAt, reason);
        return { outcome: "done", detail: "failed: objects missing" };
      }
      case "package":
        return finish(deps, route, { id, run: started.run }, packageId, assembly.pkg, startedAt);
    }
  });
}

async function finish(
  deps: ChainDeps,
  route: Route,
  ingest: { id: string; run: number },
  packageId: string,
  pkg: IngestPackage,
  startedAt: number,
): Promise<StepResult> {
  const { id } = ingest;
  if (!pkg.tombstone) await deps.redis.set(entryIdKey(deps.prefix, packageId), pkg.entryId);
  const what = pkg.tombstone
    ? `tombstone for entry ${pkg.entryId}`
    : `package ${pkg.entryId}: video ${pkg.video?.key ?? "-"}, ${pkg.images.length} image(s)`;
  // The package goes with the hand-off's own write: one Redis call.
  await handOff(deps, ingest, route, {
    fields: { package: JSON.stringify(pkg) },
    history: [{ step: STEP_NAME, message: `assembled ${what}` }],
  });
  // Done only after the hand-off: a crash before it leaves the step unfinished, so the retried
  // job continues instead of taking itself for a duplicate delivery.
  await timing(deps, id, "done", startedAt, what);
  return { outcome: "done", detail: what };
}
