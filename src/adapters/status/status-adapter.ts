import type { UpstreamClient } from "../http/upstream-client.js";
import {
  ingestDetailsSchema,
  ingestListSchema,
  ingestSummarySchema,
  type IngestDetailsBody,
  type IngestSummaryBody,
  type IngestTaskBody,
} from "./status-schemas.js";
import {
  mapIngestStatus,
  mapIngestTaskStatus,
  type IngestStage,
  type IngestStatus,
} from "./status-states.js";

/** One video ingest of an asset, as the list shows it. */
export interface VideoIngest {
  id: string;
  assetId: string;
  status: IngestStatus;
  /** The pipeline phase while running (`RETRIEVAL`, `ENCODING`, `DISTRIBUTION`, `PLAYOUT`). */
  stage?: IngestStage;
  /** The status name as the API sent it. */
  rawStatus: string;
  /** Percent, 0 to 100. */
  progress?: number;
  profileName?: string;
  startTime?: string;
  endTime?: string;
  /** The error's message (or the whole error as JSON) when the API reports one. */
  error?: string;
  raw: unknown;
}

/** One pipeline step of an ingest (RETRIEVAL, ENCODING, ...). */
export interface VideoIngestTask {
  id?: string;
  name: string;
  status: IngestStatus;
  rawStatus: string;
  progress?: number;
  startTime?: string;
  endTime?: string;
}

/** An ingest with its pipeline steps. */
export interface VideoIngestDetails extends VideoIngest {
  tenant?: string;
  tasks: VideoIngestTask[];
}

/** Which ingests `findIngests` looks for. */
export interface FindIngestsQuery {
  assetId: string;
  profileName?: string;
  /** Most ingests returned. Default 25. */
  limit?: number;
}

/** One `GET /ingests` page of a tenant's ingests, as a status sweep reads them. */
export interface ListIngestsPageQuery {
  /** Page size; the seed names no maximum, the simulator accepts up to 1000. */
  limit: number;
  /** The `cursor` of the previous page. */
  cursor?: string;
  /** The seed's profile-name filter, when every ingest of interest uses one profile. */
  profileName?: string;
}

/** A page, newest first as the seed orders it; `cursor` is absent on the last page. */
export interface IngestsPage {
  items: VideoIngest[];
  cursor?: string;
}

/** What `cancel` found: a 404 is an answer here, not a failure (the ingest may be gone). */
export type CancelIngestResult = { status: "cancelled" } | { status: "not_found" };

/**
 * The VIA Orchestrate Status API (seed 002): video ingests per asset, and cancelling one. Every
 * method throws `UpstreamError` for a failed call (`cancel` excepted for 404).
 */
export interface StatusAdapter {
  /** The asset's ingests, newest first (cursor pages are followed up to `limit`). */
  findIngests(query: FindIngestsQuery): Promise<VideoIngest[]>;
  /** One page of every ingest of the tenant (no asset filter): one request. */
  listPage(query: ListIngestsPageQuery): Promise<IngestsPage>;
  /** `GET /ingests/{id}`; a 404 throws (status 404). */
  getIngest(id: string): Promise<VideoIngestDetails>;
  /** `DELETE /cancel/{id}`; cancelling a finished ingest is accepted by the API and changes nothing. */
  cancel(id: string): Promise<CancelIngestResult>;
}

/** What `createStatusAdapter` needs. */
export interface StatusAdapterOptions {
  client: UpstreamClient;
  /**
   * Sent as `X-Vimond-Tenant` with every request: every example of seed 002 sends it, and without
   * it the API cannot tell whose ingests to show.
   */
  tenant: string;
}

const DEFAULT_LIMIT = 25;
/** Upper bound on cursor pages read for one asset; an asset has a handful of ingests. */
const MAX_PAGES = 20;

/** Builds the Status adapter over a client bound to the Status API base URL. */
export function createStatusAdapter(options: StatusAdapterOptions): StatusAdapter {
  const { client } = options;
  if (options.tenant.trim() === "") throw new Error("the Status API needs a tenant (X-Vimond-Tenant)");
  const headers: Record<string, string> = { "x-vimond-tenant": options.tenant };

  return {
    async findIngests(query) {
      const limit = Math.max(1, query.limit ?? DEFAULT_LIMIT);
      const found = new Map<string, VideoIngest>();
      let cursor: string | undefined;
      for (let page = 0; page < MAX_PAGES; page += 1) {
        const response = await client.request({
          operation: "listIngests",
          method: "GET",
          path: "/ingests",
          headers,
          query: {
            assetId: query.assetId,
            profileName: query.profileName,
            limit: limit - found.size,
            cursor,
          },
          schema: ingestListSchema,
        });
        for (const item of response.body.items) {
          // The filter is the server's job, but following another asset's ingest would be far
          // worse than a wasted comparison.
          if (item.assetId !== query.assetId) continue;
          if (query.profileName !== undefined && item.profileName !== query.profileName) continue;
          found.set(item.ingestId, toIngest(item));
        }
        cursor = response.body.cursor;
        if (!cursor || found.size >= limit || response.body.items.length === 0) break;
      }
      return newestFirst([...found.values()]).slice(0, limit);
    },

    async listPage(query) {
      const response = await client.request({
        operation: "listIngests",
        method: "GET",
        path: "/ingests",
        headers,
        query: { limit: Math.max(1, query.limit), cursor: query.cursor, profileName: query.profileName },
        schema: ingestListSchema,
      });
      const items = response.body.items
        // As in findIngests: the filter is the server's, but a wrong item must not be followed.
        .filter((item) => query.profileName === undefined || item.profileName === query.profileName)
        .map(toIngest);
      return response.body.cursor ? { items, cursor: response.body.cursor } : { items };
    },

    async getIngest(id) {
      const response = await client.request({
        operation: "getIngest",
        method: "GET",
        path: `/ingests/${encodeURIComponent(id)}`,
        headers,
        schema: ingestDetailsSchema,
      });
      return toDetails(response.body);
    },

    async cancel(id) {
      const response = await client.request({
        operation: "cancelIngest",
        method: "DELETE",
        path: `/cancel/${encodeURIComponent(id)}`,
        headers,
        expect: [200, 202, 204, 404],
      });
      return response.status === 404 ? { status: "not_found" } : { status: "cancelled" };
    },
  };
}

/** Newest first by start time, as the seed promises; sorted again so a server that forgets is harmless. */
function newestFirst(ingests: VideoIngest[]): VideoIngest[] {
  const time = (ingest: VideoIngest) => {
    const at = ingest.startTime === undefined ? Number.NaN : Date.parse(ingest.startTime);
    return Number.isNaN(at) ? Number.NEGATIVE_INFINITY : at;
  };
  return ingests.sort((a, b) => time(b) - time(a));
}

function errorText(error: unknown): string | undefined {
  if (error === null || error === undefined) return undefined;
  if (typeof error === "string") return error;
  if (typeof error === "object" && typeof (error as { message?: unknown }).message === "string") {
    return (error as { message: string }).message;
  }
  return JSON.stringify(error);
}

function toIngest(body: IngestSummaryBody): VideoIngest {
  const { status, stage } = mapIngestStatus(body.status);
  const ingest: VideoIngest = {
    id: body.ingestId,
    assetId: body.assetId,
    status,
    rawStatus: body.status,
    raw: body,
  };
  if (stage !== undefined) ingest.stage = stage;
  if (body.progress != null) ingest.progress = body.progress;
  if (body.profileName !== undefined) ingest.profileName = body.profileName;
  if (body.startTime !== undefined) ingest.startTime = body.startTime;
  if (body.endTime !== undefined) ingest.endTime = body.endTime;
  const error = errorText(body.error);
  if (error !== undefined) ingest.error = error;
  return ingest;
}

/**
 * An ingest summary kept as the API sent it (`VideoIngest.raw`, e.g. stored by a status sweep for
 * the ingest's own job) read back the way the adapter reads a response; undefined when it is not one.
 */
export function videoIngestFromRaw(raw: unknown): VideoIngest | undefined {
  const parsed = ingestSummarySchema.safeParse(raw);
  return parsed.success ? toIngest(parsed.data) : undefined;
}

function toTask(body: IngestTaskBody): VideoIngestTask {
  const task: VideoIngestTask = {
    name: body.name,
    status: mapIngestTaskStatus(body.status),
    rawStatus: body.status,
  };
  if (body.id !== undefined) task.id = body.id;
  if (body.progress != null) task.progress = body.progress;
  if (body.startTime !== undefined) task.startTime = body.startTime;
  if (body.endTime !== undefined) task.endTime = body.endTime;
  return task;
}

function toDetails(body: IngestDetailsBody): VideoIngestDetails {
  const details: VideoIngestDetails = { ...toIngest(body), tasks: (body.tasks ?? []).map(toTask) };
  if (body.tenant !== undefined) details.tenant = body.tenant;
  return details;
}
