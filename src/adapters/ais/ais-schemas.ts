import { z } from "zod";

/**
 * Response shapes of the Asset Importer Service (seed 000). The seed names operations but no
 * schemas, so these validate only the fields the worker uses and keep everything else (loose
 * objects): ids may be numbers or strings, state names are free text mapped in `ais-states.ts`.
 */

/** An id as AIS sends it (numbers in practice), kept as a string. */
export const aisIdSchema = z.union([z.string().min(1), z.number().int()]).transform(String);

/**
 * An import task as sent: any object. Seed 000 defines no ImportTask schema, so the fields are read
 * by `normalizeTask` (task-normalizer.ts) from candidate names; a task it cannot read is reported,
 * never a reason to reject the whole list.
 */
export const importTaskSchema = z.unknown();

export const importJobSchema = z.looseObject({
  id: aisIdSchema,
  state: z.string(),
  mediaFeedId: aisIdSchema.nullish(),
  companyId: aisIdSchema.nullish(),
  tasks: z.array(importTaskSchema).nullish(),
});
export type ImportJobBody = z.infer<typeof importJobSchema>;

/**
 * What `v2/schedule` returns: the created ImportJob. Only its id is required, because the push has
 * taken effect by the time the body is read; rejecting it for a missing state would turn a
 * successful push into an ambiguous failure.
 */
export const pushedJobSchema = importJobSchema.extend({ state: z.string().nullish() });

/**
 * A list response: AIS pages look like `{ start, size, total, items }`; a plain array and a Spring
 * page (`content`) are accepted too, since the seed does not say.
 */
export function listSchema<T extends z.ZodType>(item: T) {
  return z.union([
    z.array(item).transform((items) => ({ items, total: undefined as number | undefined })),
    z
      .looseObject({ items: z.array(item), total: z.number().int().nullish() })
      .transform((page) => ({ items: page.items, total: page.total ?? undefined })),
    z
      .looseObject({ content: z.array(item), totalElements: z.number().int().nullish() })
      .transform((page) => ({ items: page.content, total: page.totalElements ?? undefined })),
  ]);
}
