import type { Redis } from "ioredis";
import { moduleLogger } from "../log/logger.js";
import { ingestDuration, ingestsFinished, ingestsStarted } from "../metrics/ingest-metrics.js";
import { currentStep } from "../queues/current-step.js";
import {
  packageSchema,
  TERMINAL_STATES,
  TRACE_FIELD,
  type HistoryEntry,
  type IngestPackage,
  type IngestRecord,
  type IngestState,
  type StepTiming,
  type Target,
  type UpstreamIdField,
} from "./ingest-record.js";
import { CREATE, FINISH_BRANCH, REOPEN, UPDATE } from "./record-scripts.js";

const TERMINAL = [...TERMINAL_STATES].join(",");
const log = moduleLogger("records");

/** A record to create: the fields that name the ingest and its object, as the record keeps them. */
export interface NewIngest extends Pick<
  IngestRecord,
  "id" | "route" | "target" | "bucket" | "key" | "version" | "eventAt"
> {
  state?: IngestState;
  labels?: Record<string, string>;
  /** Further fields written with the record (e.g. the first step's timing). */
  fields?: Record<string, string>;
}

export interface ListQuery {
  status?: IngestState;
  target?: Target;
  route?: string;
  /** Only records created at or after this time (ms). */
  since?: number;
  /** Opaque cursor from a previous page. */
  cursor?: string;
  limit: number;
}

/** Called once per record when it reaches a terminal state (notifications hook in here). */
export type TerminalListener = (record: IngestRecord) => Promise<void> | void;

/** A step's writes to one record, applied in one Redis call by {@link RecordStore.update}. */
export interface RecordUpdate {
  /** Plain hash fields (e.g. pushedAt, image markers). */
  fields?: Record<string, string>;
  /** Upstream ids learned (`up:<name>` fields); undefined when there are none to write. */
  upstream?: Partial<Record<UpstreamIdField, string>> | undefined;
  /** The timing of a step (`step:<name>`). */
  step?: { name: string; timing: StepTiming };
  /** Lines for the history, in order (after the transition's own line). */
  history?: Array<{ step: string; message: string }>;
  /**
   * A state change; refused from terminal states and from states outside `from`. `step` names the
   * step that decided a failure in its warn line; by default the step whose processor is running.
   */
  transition?: { to: IngestState; error?: string; from?: IngestState[]; step?: string };
  /** Parallel branches that must all report before the ingest ends (declared once). */
  branches?: string[];
}

type ScriptedRedis = Redis & {
  ingestCreate(record: string, index: string, history: string, ...args: string[]): Promise<number>;
  ingestUpdate(record: string, history: string, ...args: string[]): Promise<string>;
  ingestFinishBranch(
    record: string,
    history: string,
    terminal: string,
    branch: string,
    result: string,
    now: string,
    ...pairs: string[]
  ): Promise<[string, string, string[]?, string[]?]>;
  ingestReopen(record: string, allowed: string, now: string): Promise<[string, string]>;
};

/** The cursor after `record` in a newest-first listing (the same in every partition). */
export function listCursor(record: Pick<IngestRecord, "createdAt" | "id">): string {
  return Buffer.from(`${record.createdAt}|${record.id}`).toString("base64url");
}

/**
 * The ingest record per package version, in one Redis hash (plus a capped history list and a
 * time index). Independent facts live in separate hash fields so parallel steps never overwrite
 * each other; state changes go through Lua so terminal states are final and counted once.
 */
export class RecordStore {
  private readonly redis: ScriptedRedis;
  private readonly listeners: TerminalListener[] = [];

  constructor(
    redis: Redis,
    private readonly prefix: string,
    private readonly now: () => number = Date.now,
  ) {
    if (!("ingestUpdate" in redis)) {
      redis.defineCommand("ingestCreate", { numberOfKeys: 3, lua: CREATE });
      redis.defineCommand("ingestUpdate", { numberOfKeys: 2, lua: UPDATE });
      redis.defineCommand("ingestFinishBranch", { numberOfKeys: 2, lua: FINISH_BRANCH });
      redis.defineCommand("ingestReopen", { numberOfKeys: 1, lua: REOPEN });
    }
    this.redis = redis as ScriptedRedis;
  }

  onTerminal(listener: TerminalListener): void {
    this.listeners.push(listener);
  }

  key(id: string): string {
    return `${this.prefix}:ingest:${id}`;
  }
  private historyKey(id: string): string {
    return `${this.prefix}:ingest:${id}:history`;
  }
  private indexKey(): string {
    return `${this.prefix}:ingests`;
  }
  private packageKey(packageId: string): string {
    return `${this.prefix}:package:${packageId}`;
  }

  /** Creates the record unless it exists (an event redelivered). Returns whether it was new. */
  async create(input: NewIngest): Promise<boolean> {
    const now = this.now();
    const fields: Record<string, string> = {
      id: input.id,
      route: input.route,
      target: input.target,
      bucket: input.bucket,
      key: input.key,
      version: input.version,
      state: input.state ?? "received",
      createdAt: String(now),
      updatedAt: String(now),
      eventAt: String(input.eventAt),
    };
    for (const [k, v] of Object.entries(input.labels ?? {})) fields[`label:${k}`] = v;
    Object.assign(fields, input.fields);
    const created = await this.redis.ingestCreate(
      this.key(input.id),
      this.indexKey(),
      this.historyKey(input.id),
      this.entry("source-watch", `received s3://${input.bucket}/${input.key} (${input.version})`, now),
      String(now),
      input.id,
      ...Object.entries(fields).flat(),
    );
    if (created === 1) ingestsStarted.inc({ target: input.target, route: input.route });
    return created === 1;
  }

  async exists(id: string): Promise<boolean> {
    return (await this.redis.exists(this.key(id))) === 1;
  }

  async get(id: string): Promise<IngestRecord | undefined> {
    const hash = await this.redis.hgetall(this.key(id));
    if (!hash.id) return undefined;
    return toRecord(hash);
  }

  /** Several records in one round trip (a pipeline), in the order asked; undefined where missing. */
  async getMany(ids: readonly string[]): Promise<Array<IngestRecord | undefined>> {
    if (ids.length === 0) return [];
    if (ids.length === 1) return [await this.get(ids[0]!)];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hgetall(this.key(id));
    const replies = (await pipeline.exec()) ?? [];
    return replies.map(([error, hash]) => {
      if (error) throw error;
      const fields = hash as Record<string, string>;
      return fields.id ? toRecord(fields) : undefined;
    });
  }

  /** The capped history, oldest first. */
  async history(id: string): Promise<HistoryEntry[]>;
  async history(id: string, step: string, message: string): Promise<void>;
  async history(id: string, step?: string, message?: string): Promise<HistoryEntry[] | void> {
    if (step === undefined || message === undefined) {
      const items = await this.redis.lrange(this.historyKey(id), 0, -1);
      return items.map((item) => JSON.parse(item) as HistoryEntry);
    }
    await this.update(id, { history: [{ step, message }] });
  }

  async setPackage(id: string, pkg: IngestPackage): Promise<void> {
    await this.update(id, { fields: { package: JSON.stringify(pkg) } });
  }

  async setUpstream(id: string, values: Partial<Record<UpstreamIdField, string>>): Promise<void> {
    await this.update(id, { upstream: values });
  }

  async setFields(id: string, values: Record<string, string>): Promise<void> {
    await this.update(id, { fields: values });
  }

  async step(id: string, step: string, timing: StepTiming): Promise<void> {
    await this.update(id, { step: { name: step, timing } });
  }

  /** Counts an attempt of something (a task retry, an asset retry) and returns the new count. */
  async countAttempt(id: string, what: string): Promise<number> {
    return this.redis.hincrby(this.key(id), `att:${what}`, 1);
  }

  /**
   * Moves the record to `to` unless it is terminal (or not in one of `from`). Returns true when it
   * moved. Reaching a terminal state fires the metrics and listeners exactly once.
   */
  async transition(
    id: string,
    to: IngestState,
    options: { error?: string; from?: IngestState[]; step?: string } = {},
  ): Promise<boolean> {
    return this.update(id, { transition: { to, ...options } });
  }

  /** Fails the ingest with a reason (no-op when already terminal); `step` as in {@link RecordUpdate}. */
  fail(id: string, reason: string, step?: string): Promise<boolean> {
    return this.transition(id, "failed", { error: reason, ...(step !== undefined ? { step } : {}) });
  }

  /** Declares the parallel branches that must all report before the ingest ends. Idempotent. */
  async startBranches(id: string, branches: string[]): Promise<void> {
    await this.update(id, { branches });
  }

  /**
   * Applies a step's writes in one Redis call (see {@link RecordUpdate}); nothing is written to a
   * missing record. Returns true when the update's transition moved the record; reaching a
   * terminal state fires the metrics and listeners exactly once.
   */
  async update(id: string, change: RecordUpdate): Promise<boolean> {
    // Not through updateMany: an ioredis pipeline copies every script defined on the connection
    // (BullMQ defines dozens on it), which costs more than the round trip it saves for one call.
    const result = await this.redis.ingestUpdate(
      this.key(id),
      this.historyKey(id),
      ...this.updateArgs(change, this.now()),
    );
    return this.afterUpdate(id, change, result);
  }

  private async afterUpdate(id: string, change: RecordUpdate, result: unknown): Promise<boolean> {
    if (result !== "ok") return false;
    if (change.transition && TERMINAL_STATES.has(change.transition.to))
      await this.finished(id, change.transition.step);
    return true;
  }

  /**
   * {@link update} for many records in one round trip (a pipeline; each record's writes stay
   * atomic). Returns, per entry, whether its transition moved the record.
   */
  async updateMany(changes: ReadonlyArray<readonly [string, RecordUpdate]>): Promise<boolean[]> {
    if (changes.length === 0) return [];
    if (changes.length === 1) return [await this.update(...changes[0]!)];
    const now = this.now();
    const pipeline = this.redis.pipeline() as unknown as ScriptedRedis;
    for (const [id, change] of changes)
      void pipeline.ingestUpdate(this.key(id), this.historyKey(id), ...this.updateArgs(change, now));
    const replies = (await (pipeline as unknown as ReturnType<Redis["pipeline"]>).exec()) ?? [];
    const moved: boolean[] = [];
    for (const [i, [error, result]] of replies.entries()) {
      if (error) throw error;
      const [id, change] = changes[i]!;
      moved.push(await this.afterUpdate(id, change, result));
    }
    return moved;
  }

  private updateArgs(change: RecordUpdate, now: number): string[] {
    const { transition } = change;
    const history = (change.history ?? []).map((h) => this.entry(h.step, h.message, now));
    const pairs: string[] = [];
    for (const [k, v] of Object.entries(change.fields ?? {})) pairs.push(k, v);
    pairs.push(...upstreamPairs(change.upstream));
    if (change.step) pairs.push(`step:${change.step.name}`, JSON.stringify(change.step.timing));
    if (pairs.length > 0) pairs.push("updatedAt", String(now));
    const branches = change.branches ?? [];
    return [
      TERMINAL,
      String(now),
      transition?.to ?? "",
      transition?.error ?? "",
      (transition?.from ?? []).join(","),
      transition
        ? this.entry(
            "record",
            transition.error ? `${transition.to}: ${transition.error}` : transition.to,
            now,
          )
        : "",
      String(branches.length),
      ...branches,
      String(history.length),
      ...history,
      ...pairs,
    ];
  }

  private entry(step: string, message: string, at: number): string {
    return JSON.stringify({ at, step, message } satisfies HistoryEntry);
  }

  /**
   * Reports one branch, with the branch step's timing and upstream ids it learned when given (in
   * the same call); the last branch decides completed or failed. Returns the final state, if any.
   */
  async finishBranch(
    id: string,
    branch: string,
    result: { ok: true } | { ok: false; reason: string },
    also: { timing?: StepTiming; upstream?: RecordUpdate["upstream"] } = {},
  ): Promise<IngestState | undefined> {
    const pairs: string[] = [];
    if (also.timing) pairs.push(`step:${branch}`, JSON.stringify(also.timing));
    pairs.push(...upstreamPairs(also.upstream));
    const [kind, value, fields, ending] = await this.redis.ingestFinishBranch(
      this.key(id),
      this.historyKey(id),
      TERMINAL,
      branch,
      result.ok ? "ok" : `failed: ${result.reason}`,
      String(this.now()),
      ...pairs,
    );
    if (kind !== "final") return undefined;
    const hash: Record<string, string> = {};
    for (const list of [fields ?? [], ending ?? []])
      for (let i = 0; i + 1 < list.length; i += 2) hash[list[i]!] = list[i + 1]!;
    await this.finished(id, undefined, hash.id ? hash : undefined);
    return value as IngestState;
  }

  /**
   * Re-opens a terminal record in one of `allowed` as `received` for an operator retry (see
   * REOPEN). Returns the retry count, or why not.
   */
  async reopen(
    id: string,
    allowed: readonly IngestState[],
  ): Promise<{ ok: true; retry: number } | { ok: false; state?: string }> {
    const [kind, value] = await this.redis.ingestReopen(this.key(id), allowed.join(","), String(this.now()));
    if (kind === "ok") return { ok: true, retry: Number(value) };
    return kind === "missing" ? { ok: false } : { ok: false, state: value };
  }

  async isTerminal(id: string): Promise<boolean> {
    const state = (await this.redis.hget(this.key(id), "state")) as IngestState | null;
    return state === null || TERMINAL_STATES.has(state);
  }

  /**
   * Whether a job made for run `run` of an ingest has nothing left to do: the ingest ended or is
   * gone, or an operator retry moved it to a later run (see `fromEarlierRun`). One HMGET.
   */
  async settledFor(id: string, run: number | undefined): Promise<boolean> {
    const [state, retry] = (await this.redis.hmget(this.key(id), "state", "att:retry")) as [
      IngestState | null,
      string | null,
    ];
    if (state === null || TERMINAL_STATES.has(state)) return true;
    return run !== undefined && run !== Number(retry ?? 0);
  }

  /** Points a package (e.g. a sidecar's bucket+key) at its newest ingest; returns the previous one. */
  async swapCurrent(packageId: string, ingestId: string): Promise<string | undefined> {
    const previous = await this.redis.getset(this.packageKey(packageId), ingestId);
    return previous ?? undefined;
  }

  async current(packageId: string): Promise<string | undefined> {
    return (await this.redis.get(this.packageKey(packageId))) ?? undefined;
  }

  /** Newest first, filtered; the cursor is the score and id of the last item returned. */
  async list(query: ListQuery): Promise<{ items: IngestRecord[]; nextCursor?: string }> {
    let max = "+inf";
    let afterId: string | undefined;
    if (query.cursor) {
      const [score, id] = Buffer.from(query.cursor, "base64url").toString("utf8").split("|");
      if (score) max = score;
      afterId = id;
    }
    const min = query.since !== undefined ? String(query.since) : "-inf";
    const items: IngestRecord[] = [];
    let offset = 0;
    const page = Math.max(50, query.limit * 2);
    for (;;) {
      const ids = await this.redis.zrevrangebyscore(
        this.indexKey(),
        max,
        min,
        "WITHSCORES",
        "LIMIT",
        offset,
        page,
      );
      if (ids.length === 0) break;
      offset += ids.length / 2;
      for (let i = 0; i < ids.length; i += 2) {
        const id = ids[i]!;
        // Equal scores come in descending id order, so the cursor's position is (score, id): skip
        // what is not after it. By order rather than by finding the id, so a cursor made from
        // another partition's page (PartitionedRecords) pages this one correctly too.
        if (afterId !== undefined && ids[i + 1] === max && id >= afterId) continue;
        const record = await this.get(id);
        if (!record) continue;
        if (query.status && record.state !== query.status) continue;
        if (query.target && record.target !== query.target) continue;
        if (query.route && record.route !== query.route) continue;
        items.push(record);
        if (items.length === query.limit) {
          return { items, nextCursor: listCursor(record) };
        }
      }
    }
    return { items };
  }

  /**
   * Every way into a terminal state ends here (update, updateMany, finishBranch), so this is the
   * one place that counts it and, for a failure, writes the warn line: no failure path is missed.
   */
  private async finished(id: string, step?: string, hash?: Record<string, string>): Promise<void> {
    // A transition that returned the record (finishBranch) gives it as `hash`: nothing is read.
    if (hash !== undefined) {
      const record = toRecord(hash);
      this.countFinished(record.target, record.state, record.finishedAt, record.eventAt);
      if (record.state === "failed") logFailure(record, step);
      for (const listener of this.listeners) await listener(record);
      return;
    }
    // The metrics need four fields. With listeners (notifications) the whole record is needed
    // anyway, so it is read once; without, only a failure's warn line reads it.
    if (this.listeners.length > 0) {
      const record = await this.get(id);
      if (!record) return;
      this.countFinished(record.target, record.state, record.finishedAt, record.eventAt);
      if (record.state === "failed") logFailure(record, step);
      for (const listener of this.listeners) await listener(record);
      return;
    }
    const [target, state, finishedAt, eventAt] = await this.redis.hmget(
      this.key(id),
      "target",
      "state",
      "finishedAt",
      "eventAt",
    );
    if (!target || !state) return;
    this.countFinished(target, state, finishedAt ? Number(finishedAt) : undefined, Number(eventAt));
    if (state !== "failed") return;
    const record = await this.get(id);
    if (record) logFailure(record, step);
  }

  private countFinished(target: string, state: string, finishedAt: number | undefined, eventAt: number) {
    ingestsFinished.inc({ target, outcome: state });
    ingestDuration.observe(
      { target, outcome: state },
      Math.max(0, ((finishedAt ?? this.now()) - eventAt) / 1000),
    );
  }
}

/**
 * The one warn line of a failed ingest. The step is the caller's when it named one, else the
 * failed branches (a branch failure ends the ingest only when the last branch reports, which may
 * be another branch's job), else the step whose processor is running.
 */
function logFailure(record: IngestRecord, step: string | undefined): void {
  const failedBranches = Object.entries(record.branches)
    .filter(([, result]) => result.startsWith("failed"))
    .map(([branch]) => branch);
  const running = currentStep();
  log.warn(
    {
      ingestId: record.id,
      step: step ?? (failedBranches.length > 0 ? failedBranches.join(",") : (running?.step ?? "unknown")),
      reason: record.lastError ?? "no reason recorded",
      route: record.route,
      target: record.target,
      ...(running?.jobId !== undefined ? { jobId: running.jobId } : {}),
    },
    "ingest failed",
  );
}

/** Hash field/value pairs of upstream ids (`up:<name>`). */
function upstreamPairs(upstream: RecordUpdate["upstream"]): string[] {
  return Object.entries(upstream ?? {}).flatMap(([k, v]) => (v === undefined ? [] : [`up:${k}`, v]));
}

function toRecord(hash: Record<string, string>): IngestRecord {
  const record: IngestRecord = {
    id: hash.id ?? "",
    route: hash.route ?? "",
    target: (hash.target ?? "vimond") as Target,
    bucket: hash.bucket ?? "",
    key: hash.key ?? "",
    version: hash.version ?? "",
    state: (hash.state ?? "received") as IngestState,
    createdAt: Number(hash.createdAt),
    updatedAt: Number(hash.updatedAt),
    eventAt: Number(hash.eventAt),
    upstream: {},
    steps: {},
    attempts: {},
    branches: {},
    labels: {},
  };
  if (hash.finishedAt) record.finishedAt = Number(hash.finishedAt);
  if (hash.pushedAt) record.pushedAt = Number(hash.pushedAt);
  if (hash.lastError) record.lastError = hash.lastError;
  if (hash[TRACE_FIELD]) record.traceparent = hash[TRACE_FIELD];
  if (hash.package) record.package = packageSchema.parse(JSON.parse(hash.package));
  for (const [field, value] of Object.entries(hash)) {
    if (field.startsWith("up:")) record.upstream[field.slice(3) as UpstreamIdField] = value;
    else if (field.startsWith("step:")) record.steps[field.slice(5)] = JSON.parse(value) as StepTiming;
    else if (field.startsWith("att:")) record.attempts[field.slice(4)] = Number(value);
    else if (field.startsWith("br:")) record.branches[field.slice(3)] = value;
    else if (field.startsWith("label:")) record.labels[field.slice(6)] = value;
  }
  return record;
}
