import { z } from "zod";
import { badRequest, jsonError, notFound, parseJsonBody } from "../core/responses.js";
import type { SimRoute } from "../core/types.js";
import { parseAtomFeed } from "./atom.js";
import { page, parseListQuery } from "./query.js";
import { feedHandler } from "./scoped-feed.js";
import type { AisStore, Feed } from "./store.js";
import { feedStatusView, feedView, jobView } from "./views.js";

/** Feed definition as clients send it (create and whole-object update); extra fields are kept. */
const feedBodySchema = z
  .looseObject({
    // The server assigns ids ("do not include id"); checked per operation below.
    id: z.union([z.null(), z.number(), z.string()]).optional(),
    name: z.string().min(1),
    type: z
      .string()
      .transform((s) => s.toUpperCase())
      .pipe(z.enum(["PUSH", "PULL"], { error: "type must be PUSH or PULL" })),
    url: z.url().optional(),
    cron: z.string().min(1).optional(),
    enabled: z.boolean().optional(),
  })
  .refine((feed) => feed.type !== "PULL" || feed.url !== undefined, {
    message: "a PULL feed needs a url",
    path: ["url"],
  });

type FeedBody = z.infer<typeof feedBodySchema>;

function feedFields(body: FeedBody): Omit<Feed, "id" | "companyId" | "created" | "updated"> {
  const { id: _id, name, type, url, cron, enabled, ...extra } = body;
  const fields: Omit<Feed, "id" | "companyId" | "created" | "updated"> = {
    name,
    type,
    enabled: enabled ?? true,
    extra,
  };
  if (url !== undefined) fields.url = url;
  if (cron !== undefined) fields.cron = cron;
  return fields;
}

/** Media feed CRUD, status, scheduleImmediate and the Atom push endpoints. */
export function feedRoutes(store: AisStore): SimRoute[] {
  const now = () => Date.now();
  const withFeed = (handle: Parameters<typeof feedHandler>[2]) => feedHandler(store, "id", handle);

  const push = (req: Parameters<SimRoute["handler"]>[0]) => {
    const feed = /^\d+$/.test(req.params.mediaFeedId ?? "")
      ? store.feeds.get(Number(req.params.mediaFeedId))
      : undefined;
    if (!feed)
      return { ok: false as const, response: notFound(`media feed ${req.params.mediaFeedId} not found`) };
    if (feed.type !== "PUSH") {
      return {
        ok: false as const,
        response: jsonError(403, "forbidden", `media feed ${feed.id} is not a PUSH feed`),
      };
    }
    if (!feed.enabled) {
      return {
        ok: false as const,
        response: jsonError(403, "forbidden", `media feed ${feed.id} is disabled`),
      };
    }
    const parsed = parseAtomFeed(req.body.toString("utf8"));
    if (!parsed.ok) return { ok: false as const, response: badRequest(parsed.message) };
    return { ok: true as const, job: store.push(feed, parsed.entries, parsed.tombstones) };
  };

  // The v1 path and the batch-import one list the same feeds.
  const listAll = () => ({ status: 200, body: [...store.feeds.values()].map((f) => feedView(store, f)) });

  return [
    {
      method: "GET",
      pattern: "/allMediaFeeds",
      operation: "listAllMediaFeeds",
      handler: listAll,
    },
    {
      method: "GET",
      pattern: "/cms/api/batch-import/feeds",
      operation: "listAllMediaFeeds",
      handler: listAll,
    },
    {
      method: "GET",
      pattern: "/company/:companyId/mediaFeeds",
      operation: "listMediaFeeds",
      handler: (req) => {
        const query = parseListQuery(req.query);
        if (typeof query === "string") return badRequest(query);
        const feeds = [...store.feeds.values()].filter((f) => f.companyId === req.params.companyId);
        return {
          status: 200,
          body: page(
            feeds.map((f) => feedView(store, f)),
            query.start,
            query.size,
          ),
        };
      },
    },
    {
      method: "POST",
      pattern: "/company/:companyId/mediaFeeds",
      operation: "createMediaFeed",
      handler: (req) => {
        const body = parseJsonBody(req, feedBodySchema);
        if (!body.ok) return body.response;
        if (body.value.id != null) return badRequest("id must not be set: the server assigns one");
        const feed = store.createFeed(req.params.companyId ?? "", feedFields(body.value));
        return { status: 200, body: feedView(store, feed) };
      },
    },
    {
      method: "GET",
      pattern: "/company/:companyId/mediaFeeds/:id",
      operation: "getMediaFeed",
      handler: withFeed((feed) => ({ status: 200, body: feedView(store, feed) })),
    },
    {
      method: "PUT",
      pattern: "/company/:companyId/mediaFeeds/:id",
      operation: "updateMediaFeed",
      handler: withFeed((feed, req) => {
        const body = parseJsonBody(req, feedBodySchema);
        if (!body.ok) return body.response;
        if (body.value.id != null && String(body.value.id) !== String(feed.id)) {
          return badRequest(`id ${body.value.id} does not match the feed in the path (${feed.id})`);
        }
        const { url: _url, cron: _cron, ...kept } = feed;
        const next: Feed = { ...kept, ...feedFields(body.value), updated: now() };
        store.feeds.set(feed.id, next);
        return { status: 200, body: feedView(store, next) };
      }),
    },
    {
      method: "DELETE",
      pattern: "/company/:companyId/mediaFeeds/:id",
      operation: "deleteMediaFeed",
      handler: withFeed((feed) => {
        store.feeds.delete(feed.id);
        return { status: 204 };
      }),
    },
    {
      method: "POST",
      pattern: "/company/:companyId/mediaFeeds/:id/scheduleImmediate",
      operation: "scheduleMediaFeedImmediate",
      handler: withFeed((feed) => {
        if (feed.type !== "PULL") {
          return jsonError(
            409,
            "conflict",
            `media feed ${feed.id} is a PUSH feed; only PULL feeds are scheduled`,
          );
        }
        const state = store.checkerState(feed);
        if (state !== "DONE") {
          return jsonError(409, "conflict", `media feed ${feed.id} checker state is ${state}, not DONE`);
        }
        store.scheduleImmediate(feed);
        return { status: 200, body: feedStatusView(store, feed) };
      }),
    },
    {
      method: "GET",
      pattern: "/company/:companyId/mediaFeeds/:id/status",
      operation: "getMediaFeedStatus",
      handler: withFeed((feed) => ({ status: 200, body: feedStatusView(store, feed) })),
    },
    {
      method: "POST",
      pattern: "/ais/feed/:mediaFeedId/schedule",
      operation: "pushV1",
      handler: (req) => {
        const result = push(req);
        return result.ok ? { status: 204 } : result.response;
      },
    },
    {
      method: "POST",
      pattern: "/ais/feed/:mediaFeedId/v2/schedule",
      operation: "pushV2",
      handler: (req) => {
        const result = push(req);
        return result.ok ? { status: 200, body: jobView(store, result.job, now(), true) } : result.response;
      },
    },
  ];
}
