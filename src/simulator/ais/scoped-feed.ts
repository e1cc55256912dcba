import { notFound } from "../core/responses.js";
import type { SimRequest, SimResponse, SimRoute } from "../core/types.js";
import type { AisStore, Feed } from "./store.js";

/**
 * The feed a path names by `:companyId` and the `idParam` segment, or the message of the 404 a
 * client gets (a feed of another company is as missing as one that does not exist).
 */
export function scopedFeed(store: AisStore, req: SimRequest, idParam: string): Feed | string {
  const { companyId = "" } = req.params;
  const id = req.params[idParam] ?? "";
  return store.feedOf(companyId, id) ?? `media feed ${id} not found for company ${companyId}`;
}

/** A handler for a route under one feed: `handle` runs only when the path names a feed of the company. */
export function feedHandler(
  store: AisStore,
  idParam: string,
  handle: (feed: Feed, req: SimRequest) => SimResponse,
): SimRoute["handler"] {
  return (req) => {
    const feed = scopedFeed(store, req, idParam);
    return typeof feed === "string" ? notFound(feed) : handle(feed, req);
  };
}
