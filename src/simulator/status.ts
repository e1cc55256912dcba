/**
 * Simulated VIA Orchestrate Status API (seed 002): video ingests per asset.
 *
 * An ingest appears when AIS announces a VIDEO import (`ais.videoImported`, visible from the
 * attempt's end). Its phases RETRIEVAL → ENCODING → DISTRIBUTION → PLAYOUT are planned when it is
 * created and its state is computed on read (no timers). While running, `status` is the current
 * phase name and `endTime` is null; it ends COMPLETED, FAILED (with `error: { code, message, task }`),
 * SKIPPED (after RETRIEVAL, as for an unchanged source), or CANCELLED by `DELETE /cancel/{id}`
 * (cancelling a finished ingest changes nothing and still answers 204).
 * Lists are newest first; `cursor` is base64 of `{"startTime","ingestId"}` of the last item, as in
 * the seed. Every list and detail example of the seed sends `X-Vimond-Tenant`: without it those
 * answer 400 (`{ error, message }`), and with it only the tenant's ingests are visible. The seed's
 * cancel example sends no tenant, so cancel accepts a request without one (and, with one, sees only
 * that tenant's ingests). `requireTenantHeader: false` restores the old lenient reads.
 * `rateLimit` makes the API refuse requests beyond a rate with 429 and `Retry-After`, as a real
 * rate-limited API does, so a client that polls per ingest visibly runs into it.
 */
import { z } from "zod";
import { seededUuid } from "./core/random.js";
import { badRequest, notFound } from "./core/responses.js";
import type { SimContext, SimModule, SimRequest, SimResponse } from "./core/types.js";
import { createRateLimiter, rateLimitSchema } from "./status/rate-limit.js";

const PHASES = ["RETRIEVAL", "ENCODING", "DISTRIBUTION", "PLAYOUT"] as const;
type Phase = (typeof PHASES)[number];
type Outcome = "COMPLETED" | "FAILED" | "SKIPPED";
/** Progress (percent) at the start of each phase; PLAYOUT ends at 100. */
const PROGRESS_AT: Record<Phase, [number, number]> = {
  RETRIEVAL: [0, 20],
  ENCODING: [20, 70],
  DISTRIBUTION: [70, 90],
  PLAYOUT: [90, 100],
};

const durationSchema = z.union([
  z.number().min(0),
  z
    .object({ min: z.number().min(0), max: z.number().min(0) })
    .strict()
    .refine((d) => d.min <= d.max, { message: "min must not exceed max" }),
]);
type Duration = z.infer<typeof durationSchema>;
const outcomeSchema = z.enum(["COMPLETED", "FAILED", "SKIPPED"]);

/** `scenario.modules.status` (durations in simulated ms). */
export const statusSettingsSchema = z
  .object({
    durationsMs: z
      .partialRecord(z.enum(["retrieval", "encoding", "distribution", "playout"]), durationSchema)
      .optional(),
    /** Scripted end by asset id: an outcome, or `{ outcome: "FAILED", failAt: "DISTRIBUTION" }`. */
    outcomes: z
      .record(
        z.string(),
        z.union([
          outcomeSchema,
          z.object({ outcome: outcomeSchema, failAt: z.enum(PHASES).optional() }).strict(),
        ]),
      )
      .optional(),
    /** Shares of ingests (not scripted by asset) that end FAILED or SKIPPED. */
    fractions: z
      .object({ failed: z.number().min(0).max(1).optional(), skipped: z.number().min(0).max(1).optional() })
      .strict()
      .refine((f) => (f.failed ?? 0) + (f.skipped ?? 0) <= 1, { message: "fractions must sum to at most 1" })
      .optional(),
    profileName: z.string().min(1).optional(),
    tenant: z.string().min(1).optional(),
    /** Default true: list and detail without `X-Vimond-Tenant` answer 400, as the seed always sends it. */
    requireTenantHeader: z.boolean().optional(),
    /** Requests per second the API answers (list, detail and cancel together); beyond it, 429. */
    rateLimit: rateLimitSchema.optional(),
  })
  .strict();
export type StatusSettings = z.infer<typeof statusSettingsSchema>;

const DEFAULT_DURATIONS: Record<Phase, number> = {
  RETRIEVAL: 5_000,
  ENCODING: 30_000,
  DISTRIBUTION: 5_000,
  PLAYOUT: 3_000,
};

interface PlannedPhase {
  name: Phase;
  id: string;
  startAt: number;
  endAt: number;
}

/** One video ingest with its whole plan; its state at any time is computed from it. */
interface Ingest {
  ingestId: string;
  assetId: string;
  key: string;
  mediaUri: string;
  tenant: string;
  profileName: string;
  startAt: number;
  phases: PlannedPhase[];
  outcome: Outcome;
  failAt?: Phase;
  cancelledAt?: number;
}

const iso = (ms: number) => new Date(ms).toISOString();

const listQuerySchema = z.object({
  assetId: z.string().optional(),
  ingestId: z.string().optional(),
  profileName: z.string().optional(),
  status: z.string().optional(),
  limit: z
    .string()
    .regex(/^\d+$/, "must be a positive integer")
    .transform(Number)
    .pipe(z.number().int().min(1).max(1000))
    .optional(),
  cursor: z.string().optional(),
});

const cursorSchema = z.object({ startTime: z.iso.datetime(), ingestId: z.string() });

/** Builds the Status module. */
export function createStatusSim(ctx: SimContext): SimModule {
  const ingests = new Map<string, Ingest>();
  const byKey = new Map<string, string>();
  let cancels = 0;
  /** `ingests` newest first (start time, then id descending), rebuilt after a change. */
  let sorted: Ingest[] | undefined;
  const newestFirst = (): Ingest[] =>
    (sorted ??= [...ingests.values()].sort(
      (a, b) => b.startAt - a.startAt || (a.ingestId < b.ingestId ? 1 : a.ingestId > b.ingestId ? -1 : 0),
    ));
  const limiter = createRateLimiter(() => ctx.now());

  const settings = (): StatusSettings => {
    const parsed = statusSettingsSchema.safeParse(ctx.scenario().modules.status ?? {});
    return parsed.success ? parsed.data : {};
  };
  const draw = (d: Duration | undefined, fallback: number) =>
    d === undefined ? fallback : typeof d === "number" ? d : d.min + ctx.random() * (d.max - d.min);

  function create(event: { key: string; assetId: string; mediaUri?: string; at: number }): void {
    const s = settings();
    let outcome: Outcome = "COMPLETED";
    let failAt: Phase | undefined;
    const scripted = s.outcomes?.[event.assetId];
    if (typeof scripted === "string") outcome = scripted;
    else if (scripted) ({ outcome, failAt } = scripted);
    else if (s.fractions) {
      const r = ctx.random();
      if (r < (s.fractions.failed ?? 0)) outcome = "FAILED";
      else if (r < (s.fractions.failed ?? 0) + (s.fractions.skipped ?? 0)) outcome = "SKIPPED";
    }
    if (outcome === "FAILED") failAt ??= "ENCODING";
    const last: Phase =
      outcome === "SKIPPED" ? "RETRIEVAL" : outcome === "FAILED" ? (failAt ?? "ENCODING") : "PLAYOUT";
    const phases: PlannedPhase[] = [];
    // Whole ms: timestamps and cursors carry ms, and a fractional start would break cursor order.
    const startAt = Math.ceil(event.at);
    let t = startAt;
    for (const name of PHASES) {
      const key = name.toLowerCase() as Lowercase<Phase>;
      const endAt = t + ctx.scaled(draw(s.durationsMs?.[key], DEFAULT_DURATIONS[name]));
      phases.push({ name, id: seededUuid(() => ctx.random()), startAt: t, endAt });
      t = endAt;
      if (name === last) break;
    }
    const ingest: Ingest = {
      ingestId: seededUuid(() => ctx.random()),
      assetId: event.assetId,
      key: event.key,
      mediaUri: event.mediaUri ?? `https://media.invalid/${encodeURIComponent(event.assetId)}.mp4`,
      tenant: s.tenant ?? "vimond",
      profileName: s.profileName ?? "1292397813",
      startAt,
      phases,
      outcome,
    };
    if (failAt) ingest.failAt = failAt;
    ingests.set(ingest.ingestId, ingest);
    byKey.set(event.key, ingest.ingestId);
    sorted = undefined;
  }

  ctx.events?.on("ais.videoImported", create);
  ctx.events?.on("ais.videoWithdrawn", ({ key }) => {
    const id = byKey.get(key);
    const ingest = id === undefined ? undefined : ingests.get(id);
    // Only an ingest nobody could have seen yet disappears; a visible one stays as it is.
    if (ingest && ingest.startAt > ctx.now()) {
      ingests.delete(ingest.ingestId);
      sorted = undefined;
    }
  });

  /** Current state of an ingest at `now`. */
  function view(ingest: Ingest, now: number) {
    const planEnd = ingest.phases.at(-1)?.endAt ?? ingest.startAt;
    const cancelled = ingest.cancelledAt !== undefined && ingest.cancelledAt < planEnd;
    const until = cancelled ? (ingest.cancelledAt ?? now) : now;
    const current = ingest.phases.find((p) => p.startAt <= until && until < p.endAt);
    let status: string;
    let progress: number;
    let endAt: number | null = null;
    if (current) {
      const [from, to] = PROGRESS_AT[current.name];
      progress = Math.floor(
        from + ((until - current.startAt) / Math.max(1, current.endAt - current.startAt)) * (to - from),
      );
      status = cancelled ? "CANCELLED" : current.name;
      if (cancelled) endAt = until;
    } else {
      status = ingest.outcome;
      endAt = planEnd;
      const lastPhase = ingest.phases.at(-1)?.name ?? "RETRIEVAL";
      progress =
        ingest.outcome === "COMPLETED" ? 100 : ingest.outcome === "SKIPPED" ? 20 : PROGRESS_AT[lastPhase][0];
    }
    const error =
      status === "FAILED"
        ? {
            code: `${ingest.failAt ?? "ENCODING"}_FAILED`,
            message: `${ingest.failAt ?? "ENCODING"} failed (simulated)`,
            task: ingest.failAt ?? "ENCODING",
          }
        : null;
    return { status, progress, endAt, until, error };
  }

  function summary(ingest: Ingest, now: number) {
    const v = view(ingest, now);
    return {
      ingestId: ingest.ingestId,
      assetId: ingest.assetId,
      detailsUrl: `/ingests/${ingest.ingestId}`,
      profileName: ingest.profileName,
      error: v.error,
      mediaTypes: ["VIDEO"],
      progress: v.progress,
      startTime: iso(ingest.startAt),
      endTime: v.endAt === null ? null : iso(v.endAt),
      status: v.status,
      elapsedTime: Math.round((v.endAt ?? now) - ingest.startAt),
    };
  }

  function details(ingest: Ingest, now: number) {
    const v = view(ingest, now);
    const inputFilesets = [
      {
        files: [{ mediaType: "VIDEO", language: null, uri: ingest.mediaUri, md5sum: null }],
        labels: ["initialInput"],
      },
    ];
    const tasks = ingest.phases
      .filter((p) => p.startAt <= v.until)
      .map((p) => {
        const done = p.endAt <= v.until;
        const failed = done && v.status === "FAILED" && p.name === ingest.failAt;
        const taskStatus = failed
          ? "TASK_FAILED"
          : done
            ? "TASK_COMPLETED"
            : v.status === "CANCELLED"
              ? "TASK_CANCELLED"
              : "TASK_RUNNING";
        const end = done ? p.endAt : v.status === "CANCELLED" ? v.until : null;
        const label = {
          RETRIEVAL: "retrieved",
          ENCODING: "encoded",
          DISTRIBUTION: "distributed",
          PLAYOUT: "played",
        }[p.name];
        return {
          outputs: {
            filesets:
              done && !failed
                ? [
                    {
                      files: [
                        {
                          mediaType: "VIDEO",
                          language: null,
                          uri: `s3://sim-${label}/${ingest.assetId}.mp4`,
                          md5sum: null,
                        },
                      ],
                      labels: ingest.outcome === "SKIPPED" ? [label, "skippedUpload"] : [label],
                    },
                  ]
                : [],
          },
          input: {
            filesets: inputFilesets,
            profile: { name: `${p.name.toLowerCase()}-profile`, type: p.name },
          },
          name: p.name,
          progress:
            done && !failed
              ? 100
              : Math.floor(
                  ((Math.min(v.until, p.endAt) - p.startAt) / Math.max(1, p.endAt - p.startAt)) * 100,
                ),
          startTime: iso(p.startAt),
          endTime: end === null ? null : iso(end),
          id: p.id,
          status: taskStatus,
          elapsedTime: Math.round((end ?? now) - p.startAt),
        };
      });
    const s = summary(ingest, now);
    return {
      status: s.status,
      startTime: s.startTime,
      endTime: s.endTime,
      progress: s.progress,
      elapsedTime: s.elapsedTime,
      assetId: ingest.assetId,
      ingestId: ingest.ingestId,
      tenant: ingest.tenant,
      profileName: ingest.profileName,
      input: {
        filesets: inputFilesets,
        profile: {
          name: ingest.profileName,
          details: { profileName: ingest.profileName, tenant: ingest.tenant },
        },
      },
      mediaTypes: ["VIDEO"],
      tasks,
      error: s.error,
    };
  }

  /**
   * Tenant check: a string is a 400 message, else a filter that shows only the tenant's ingests.
   * `optional` is for cancel, whose seed example sends no tenant.
   */
  function tenantFilter(req: SimRequest, optional = false): string | ((ingest: Ingest) => boolean) {
    const tenant = req.headers["x-vimond-tenant"]?.trim();
    if (!tenant) {
      const required = !optional && settings().requireTenantHeader !== false;
      return required ? "X-Vimond-Tenant header is required" : () => true;
    }
    return (ingest) => ingest.tenant === tenant;
  }

  function visible(req: SimRequest, id: string | undefined, tenantOptional = false): Ingest | SimResponse {
    const allowed = tenantFilter(req, tenantOptional);
    if (typeof allowed === "string") return badRequest(allowed);
    const ingest = id === undefined ? undefined : ingests.get(id);
    if (!ingest || ingest.startAt > ctx.now() || !allowed(ingest)) return notFound(`ingest ${id} not found`);
    return ingest;
  }

  function list(req: SimRequest): SimResponse {
    const allowed = tenantFilter(req);
    if (typeof allowed === "string") return badRequest(allowed);
    const parsedQuery = listQuerySchema.safeParse(Object.fromEntries(req.query));
    if (!parsedQuery.success)
      return badRequest(parsedQuery.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
    const q = parsedQuery.data;
    let after: { startAt: number; ingestId: string } | undefined;
    if (q.cursor) {
      try {
        const decoded = cursorSchema.parse(JSON.parse(Buffer.from(q.cursor, "base64").toString("utf8")));
        after = { startAt: Date.parse(decoded.startTime), ingestId: decoded.ingestId };
      } catch {
        return badRequest("cursor: not a cursor this API returned");
      }
    }
    const now = ctx.now();
    const limit = q.limit ?? 25;
    const status = q.status?.toUpperCase();
    // One pass over the cached order, a summary only for what a page can hold: a sweep pages
    // thousands of ingests a few times a minute, and summarising all of them per page made the
    // simulator, not the worker, the bottleneck of the long-encode benchmark.
    const pageItems: Array<{ ingest: Ingest; summary: ReturnType<typeof summary> }> = [];
    let more = false;
    for (const i of newestFirst()) {
      if (i.startAt > now || !allowed(i)) continue;
      if (q.assetId !== undefined && i.assetId !== q.assetId) continue;
      if (q.ingestId !== undefined && i.ingestId !== q.ingestId) continue;
      if (q.profileName !== undefined && i.profileName !== q.profileName) continue;
      if (
        after &&
        !(i.startAt < after.startAt || (i.startAt === after.startAt && i.ingestId < after.ingestId))
      )
        continue;
      const s = summary(i, now);
      if (status !== undefined && s.status !== status) continue;
      if (pageItems.length === limit) {
        more = true;
        break;
      }
      pageItems.push({ ingest: i, summary: s });
    }
    const last = pageItems.at(-1);
    const cursor =
      more && last
        ? Buffer.from(
            JSON.stringify({ startTime: iso(last.ingest.startAt), ingestId: last.ingest.ingestId }),
          ).toString("base64")
        : null;
    return { status: 200, body: { items: pageItems.map((x) => x.summary), count: pageItems.length, cursor } };
  }

  /** The rate limit runs first: a refused request has no effect, as a real 429 has none. */
  const limited =
    (handler: (req: SimRequest) => SimResponse) =>
    (req: SimRequest): SimResponse =>
      limiter.check(settings().rateLimit) ?? handler(req);

  return {
    name: "status",
    settingsSchema: statusSettingsSchema,
    routes: [
      { method: "GET", pattern: "/ingests", operation: "listIngests", handler: limited(list) },
      {
        method: "GET",
        pattern: "/ingests/:ingestId",
        operation: "getIngest",
        handler: limited((req) => {
          const found = visible(req, req.params.ingestId);
          return "phases" in found ? { status: 200, body: details(found, ctx.now()) } : found;
        }),
      },
      {
        method: "DELETE",
        pattern: "/cancel/:ingestId",
        operation: "cancelIngest",
        handler: limited((req) => {
          const found = visible(req, req.params.ingestId, true);
          if (!("phases" in found)) return found;
          const now = ctx.now();
          const state = view(found, now).status;
          if ((PHASES as readonly string[]).includes(state)) {
            found.cancelledAt = now;
            cancels += 1;
          }
          return { status: 204 };
        }),
      },
    ],
    stats: () => {
      const now = ctx.now();
      const byStatus: Record<string, number> = {};
      let pending = 0;
      for (const ingest of ingests.values()) {
        if (ingest.startAt > now) {
          pending += 1;
          continue;
        }
        const status = view(ingest, now).status;
        byStatus[status] = (byStatus[status] ?? 0) + 1;
      }
      return { ingests: ingests.size, pending, byStatus, cancels, rateLimited: limiter.refused() };
    },
    reset: () => {
      ingests.clear();
      byKey.clear();
      sorted = undefined;
      cancels = 0;
      limiter.reset();
    },
  };
}
