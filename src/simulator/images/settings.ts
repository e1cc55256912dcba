import { z } from "zod";

/** `scenario.modules.images`: every field optional. */
export const imagesSettingsSchema = z.strictObject({
  /** imageUrl patterns (substring, `*` glob or `/regex/`) whose fetch fails with 422 without downloading. */
  failFetch: z.array(z.string()).default([]),
  /** Real-time limit for downloading an imageUrl. */
  fetchTimeoutMs: z.number().int().positive().default(10_000),
  /** Larger sources are refused with 422, as the service refuses oversized originals. */
  maxImageBytes: z
    .number()
    .int()
    .positive()
    .default(20 * 1024 * 1024),
  /** Originals up to this size keep their bytes for `getImageData`/`getImage`; larger ones keep only metadata. */
  storeBytesUpTo: z
    .number()
    .int()
    .nonnegative()
    .default(256 * 1024),
  /** Asset ids (substring, `*` glob or `/regex/`) the asset REST API does not know: 404. */
  missingAssets: z.array(z.string()).default([]),
  /** When true, `GET /api/systemsCheck` answers 503 (a degraded datastore). */
  systemsCheckFails: z.boolean().default(false),
});

export type ImagesSettings = z.output<typeof imagesSettingsSchema>;
