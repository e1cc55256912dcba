import { z } from "zod";

/** Task kinds an import job holds. */
export const TASK_TYPES = ["METADATA", "VIDEO", "IMAGE", "UNPUBLISH"] as const;
export type TaskType = (typeof TASK_TYPES)[number];

/** A simulated duration in ms: fixed, or uniform in a range (scaled by the simulator's speed). */
const durationSchema = z.union([
  z.number().min(0),
  z
    .object({ min: z.number().min(0), max: z.number().min(0) })
    .strict()
    .refine((d) => d.min <= d.max, { message: "min must not exceed max" }),
]);
export type Duration = z.infer<typeof durationSchema>;

/** A scripted outcome for the tasks of one entry. */
const outcomeSchema = z
  .object({
    /** Fail the first k attempts with a transient (retryable) error, then succeed. */
    failFirst: z.number().int().min(1).optional(),
    /** Fail every attempt with a non-retryable error. */
    failPermanently: z.boolean().optional(),
    /** Never finish (the task stays RUNNING until aborted). */
    stall: z.boolean().optional(),
    /** Which of the entry's tasks the script applies to; default all of them. */
    taskTypes: z.array(z.enum(TASK_TYPES)).min(1).optional(),
  })
  .strict();
export type ScriptedOutcome = z.infer<typeof outcomeSchema>;

const fraction = z.number().min(0).max(1);

/** Task fields the simulator can rename (see `taskFields`); the names its default view uses. */
export const TASK_VIEW_FIELDS = [
  "id",
  "jobId",
  "mediaFeedId",
  "assetId",
  "entryId",
  "entryUpdated",
  "type",
  "state",
  "attempts",
  "created",
  "started",
  "finished",
  "errorCode",
  "errorMessage",
  "retryable",
] as const;
export type TaskViewField = (typeof TASK_VIEW_FIELDS)[number];

/** A field name, or a dotted path into nested objects (`asset.id`). */
const fieldPath = z
  .string()
  .regex(/^[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*)*$/, "must be a field name or a dotted path such as asset.id");

/**
 * How tasks are rendered: each listed field moved to another name or path, or left out (`null`).
 * Seed 000 defines no task schema; this lets tests play a tenant whose AIS names fields otherwise.
 */
const taskFieldsSchema = z.partialRecord(z.enum(TASK_VIEW_FIELDS), fieldPath.nullable()).refine(
  (fields) => {
    const paths = TASK_VIEW_FIELDS.map((f) => (fields[f] === undefined ? f : fields[f])).filter(
      (p): p is string => typeof p === "string",
    );
    // Two fields on one path, or a value where another path needs an object, would lose data.
    return paths.every((p, i) => paths.every((q, j) => i === j || (p !== q && !q.startsWith(`${p}.`))));
  },
  { message: "two task fields would share a path (renamed or not), or one path is inside another" },
);

/**
 * `scenario.modules.ais`. Durations are simulated ms. Fractions are drawn once per entry id (from the
 * seeded stream), so an entry keeps its fate across retries and re-pushes.
 */
export const aisSettingsSchema = z
  .object({
    /** How long a job (or a retried task) stays QUEUED before its tasks run. */
    jobQueuedMs: durationSchema.optional(),
    /** Task run time, one for all types or per type. */
    taskDurationMs: z.union([durationSchema, z.partialRecord(z.enum(TASK_TYPES), durationSchema)]).optional(),
    /** How long a PULL feed's checker runs after `scheduleImmediate`. */
    pullDurationMs: durationSchema.optional(),
    /** Scripted outcomes by entry id (they win over fractions). */
    outcomes: z.record(z.string(), outcomeSchema).optional(),
    /** Task field names as this tenant's AIS would send them (default: the names above). */
    taskFields: taskFieldsSchema.optional(),
    /** Task type names as this tenant's AIS would send them, e.g. `{ "VIDEO": "video-import" }`. */
    taskTypeNames: z.partialRecord(z.enum(TASK_TYPES), z.string().min(1)).optional(),
    /** Scripted outcomes for a random share of entries. */
    fractions: z
      .object({
        failFirst: z
          .object({ fraction, count: z.number().int().min(1) })
          .strict()
          .optional(),
        failPermanently: fraction.optional(),
        stall: fraction.optional(),
        taskTypes: z.array(z.enum(TASK_TYPES)).min(1).optional(),
      })
      .strict()
      .refine((f) => (f.failFirst?.fraction ?? 0) + (f.failPermanently ?? 0) + (f.stall ?? 0) <= 1, {
        message: "fractions must sum to at most 1",
      })
      .optional(),
  })
  .strict();
export type AisSettings = z.infer<typeof aisSettingsSchema>;

export const DEFAULT_TASK_DURATION_MS: Record<TaskType, number> = {
  METADATA: 1_000,
  VIDEO: 30_000,
  IMAGE: 2_000,
  UNPUBLISH: 500,
};
export const DEFAULT_JOB_QUEUED_MS = 1_000;
export const DEFAULT_PULL_DURATION_MS = 5_000;

/** Reads the settings in force; the core already validated them, so a failure here means "defaults". */
export function readAisSettings(raw: unknown): AisSettings {
  const parsed = aisSettingsSchema.safeParse(raw ?? {});
  return parsed.success ? parsed.data : {};
}

/** Draws a concrete duration (simulated ms). */
export function drawDuration(duration: Duration | undefined, fallback: number, random: () => number): number {
  if (duration === undefined) return fallback;
  if (typeof duration === "number") return duration;
  return duration.min + random() * (duration.max - duration.min);
}

/** The duration setting for a task type. */
export function taskDuration(settings: AisSettings, type: TaskType): Duration | undefined {
  const d = settings.taskDurationMs;
  if (d === undefined || typeof d === "number" || "min" in d) return d;
  return d[type];
}
