import { z } from "zod";

/**
 * The asset as the asset REST API returns it. The seeds name only the field the binding sets
 * (`imagePackId`, seed 004); everything else is kept untouched so a PUT can send it back.
 */
export const assetBodySchema = z.looseObject({
  imagePackId: z.union([z.string(), z.number().int()]).transform(String).nullish(),
});
export type AssetBody = z.infer<typeof assetBodySchema>;
