import type { RoutesFile } from "../config/routes.js";

/** A media feed the simulator was seeded with, and the route that names it. */
export interface SeededFeed {
  id: string;
  companyId: string;
  route: string;
  /** False when the feed already existed. */
  created: boolean;
}

/** Feed ids are the AIS's own counter; seeding further than this is a typo, not a plan. */
const MAX_FEED_ID = 1000;

async function call(
  base: string,
  token: string,
  method: string,
  path: string,
  body?: object,
): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as unknown) : null };
}

/**
 * Creates the PUSH media feeds the routes' vimond targets name, through the AIS's own
 * createMediaFeed operation, as an operator sets them up in a real AIS before the worker runs
 * (a fresh simulator has none, so the example route's feed "1" answered 404). The AIS assigns ids
 * itself, in order: to reach a higher id, the feeds created on the way are kept as disabled
 * placeholders, which a push refuses (403) like any disabled feed.
 */
export async function seedFeeds(
  aisUrl: string,
  token: string,
  routes: RoutesFile,
  defaultCompanyId: string,
): Promise<SeededFeed[]> {
  const wanted = new Map<number, { companyId: string; route: string }>();
  for (const route of routes.routes) {
    if (route.target !== "vimond") continue;
    const { mediaFeedId, companyId = defaultCompanyId } = route.vimond;
    const id = Number(mediaFeedId);
    if (!/^\d+$/.test(mediaFeedId) || id < 1 || id > MAX_FEED_ID)
      throw new Error(
        `route ${route.name}: mediaFeedId "${mediaFeedId}" cannot be seeded (AIS feed ids are numbers from 1 to ${MAX_FEED_ID})`,
      );
    const other = wanted.get(id);
    if (other && other.companyId !== companyId)
      throw new Error(
        `routes ${other.route} and ${route.name} name media feed ${id} for companies ${other.companyId} and ${companyId}`,
      );
    if (!other) wanted.set(id, { companyId, route: route.name });
  }
  const seeded: SeededFeed[] = [];
  for (const [id, { companyId, route }] of [...wanted].sort(([a], [b]) => a - b)) {
    const feedPath = (n: number) => `/company/${encodeURIComponent(companyId)}/mediaFeeds/${n}`;
    if ((await call(aisUrl, token, "GET", feedPath(id))).status === 200) {
      seeded.push({ id: String(id), companyId, route, created: false });
      continue;
    }
    for (;;) {
      const made = await call(aisUrl, token, "POST", `/company/${encodeURIComponent(companyId)}/mediaFeeds`, {
        name: route,
        type: "PUSH",
      });
      const got = Number((made.json as { id?: unknown } | null)?.id);
      if (made.status !== 200 || !Number.isInteger(got))
        throw new Error(
          `the simulator refused to create media feed ${id}: ${made.status} ${JSON.stringify(made.json)}`,
        );
      if (got === id) break;
      if (got > id)
        throw new Error(`media feed ${id} cannot be created: the AIS already assigned ids up to ${got}`);
      await call(aisUrl, token, "PUT", feedPath(got), {
        name: `placeholder (seeded so that feed ${id} exists)`,
        type: "PUSH",
        enabled: false,
      });
    }
    seeded.push({ id: String(id), companyId, route, created: true });
  }
  return seeded;
}
