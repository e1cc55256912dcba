import { z } from "zod";

/** `scenario.modules.aem`: every field optional. */
export const aemSettingsSchema = z.strictObject({
  /** Simulated time from accepting an import to its last file settling; files settle evenly spread over it. */
  jobDurationMs: z.number().nonnegative().default(5_000),
  /** File name or URL patterns (substring, `*` glob or `/regex/`) whose import fails. */
  failFiles: z.array(z.string()).default([]),
  /** Probe each file URL (a 1-byte ranged GET) and fail files whose URL cannot be downloaded. */
  verifyUrls: z.boolean().default(true),
  /** Real-time limit for one URL probe. */
  verifyTimeoutMs: z.number().int().positive().default(5_000),
  /** `Retry-After` on a PROCESSING status, in simulated seconds (scaled, rounded, at least 0). */
  retryAfterSeconds: z.number().nonnegative().default(1),
  /**
   * Where CloudEvents go (`aem.assets.asset.processing_completed`). The seed has no per-request
   * callback: AEM delivers events to a webhook registered out of band, which this setting stands for.
   */
  webhookUrl: z.url().optional(),
  /** Delivery attempts per event before it is dropped (I/O Events retries failed deliveries). */
  webhookMaxAttempts: z.number().int().positive().default(3),
  /**
   * The API key every request must carry as `x-api-key` (seed 003: "Bearer and ApiKeyAuth"). Unset:
   * any non-empty key is taken, as the token endpoint takes any client credentials; a request
   * without one is refused with 401 either way.
   */
  apiKey: z.string().min(1).optional(),
  /** Folder patterns the caller may not write to: importing there answers 403. */
  forbiddenFolders: z.array(z.string()).default([]),
  /** Used in the CloudEvent `source`: `acct:aem-p<programId>-e<environmentId>@adobe.com`. */
  programId: z.string().regex(/^\d+$/).default("12345"),
  environmentId: z.string().regex(/^\d+$/).default("67890"),
});

export type AemSettings = z.output<typeof aemSettingsSchema>;
