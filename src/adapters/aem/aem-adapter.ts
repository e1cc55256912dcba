import { parseRetryAfter } from "../http/backoff.js";
import { createUpstreamClient } from "../http/upstream-client.js";
import {
  AEM_FOLDER_PATTERN,
  AEM_IMPORT_MAX_FILES,
  importAcceptedSchema,
  jobStatusSchema,
  resultPageSchema,
  type ResultItemBody,
} from "./aem-schemas.js";
import type { AemAdapterSettings } from "./aem-settings.js";
import { itemState, jobSettled, type AemItemState } from "./aem-states.js";

export { AEM_IMPORT_MAX_FILES } from "./aem-schemas.js";
export type { AemItemState } from "./aem-states.js";
export { aemSettingsFromEnv, type AemAdapterSettings } from "./aem-settings.js";

/** Result pages are read 50 items at a time (the seed's maximum `limit`). */
const RESULT_PAGE_LIMIT = 50;
/** 1000 items (the largest import the seed allows) take 20 pages; more means a cursor loop. */
const MAX_RESULT_PAGES = 100;

/** One file to import from a URL (typically a presigned S3 GET). */
export interface AemImportFile {
  fileName: string;
  url: string;
  mimeType?: string;
  fileSize?: number;
}

/** AEM metadata properties (e.g. `dc:title`) and their values; an array is a multi-value property. */
export type AemAssetMetadata = Record<string, string | string[]>;

/** An import-from-URL request: up to 300 files into one folder. */
export interface AemImportRequest {
  /** A `/content/dam/...` path or a `urn:aaid:...` folder id. */
  folder: string;
  files: AemImportFile[];
  /**
   * Sent as the body's `assetMetadata` (seed 003, ImportAssetMetadata). The seed defines it on the
   * request only, applied to every asset of the import: its file items carry no metadata. So the
   * files of one request share it; a caller with different metadata per package sends them apart.
   */
  assetMetadata?: AemAssetMetadata;
}

/** Status of an import job as the worker acts on it. */
export type AemJobStatus =
  | {
      kind: "processing";
      /** The server's `Retry-After`: when to look again. */
      retryAfterMs?: number;
      /** Send it back as `etag` on the next poll to get a cheap 304 while nothing changed. */
      etag?: string;
    }
  | { kind: "not-modified"; retryAfterMs?: number }
  | {
      kind: "done";
      /** Where the result is (the 303's Location, or where it would point). */
      resultUrl: string;
      /** The settled state when the server said (COMPLETED, FAILED...); files are in the result. */
      state?: string;
    };

/** One file of a settled import. */
export interface AemImportResultItem {
  fileName: string;
  url?: string;
  state: AemItemState;
  assetId?: string;
  path?: string;
  /** Why the file failed, flattened to one line. */
  error?: string;
}

/** A request the adapter refuses before sending (the server would answer 400). */
export class InvalidAemImportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InvalidAemImportError";
  }
}

/**
 * The AEM Assets Import API (seed 003) as the `aem` target uses it. Errors are `UpstreamError`s
 * from the shared HTTP client (retries, `Retry-After`, metrics under `settings.upstream`).
 */
export interface AemAdapter {
  /**
   * `POST /import/from-url`. Not idempotent: when it fails with `ambiguous`, the job may exist;
   * the caller decides whether a duplicate import is acceptable before trying again.
   * @throws InvalidAemImportError for no files, more than 300, or a folder the API would refuse
   */
  importFromUrl(request: AemImportRequest): Promise<{ jobId: string; statusUrl: string }>;
  /**
   * `GET /import/jobs/{id}/status`, conditional on `etag` when given. The 303 to the result is
   * surfaced as `done` (the HTTP client does not follow redirects), as is a 200 with a settled state.
   */
  getStatus(jobId: string, etag?: string): Promise<AemJobStatus>;
  /** Every item of `GET /import/jobs/{id}/result`, following the cursor across pages. */
  getResult(jobId: string): Promise<{ items: AemImportResultItem[] }>;
  close(): Promise<void>;
}

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function errorText(error: ResultItemBody["error"]): string | undefined {
  if (error === undefined || error === null) return undefined;
  if (typeof error === "string") return error === "" ? undefined : error;
  const text = error.detail ?? error.message ?? error.title;
  return text ?? (error.status !== undefined ? `HTTP ${error.status}` : undefined);
}

function toItem(item: ResultItemBody): AemImportResultItem {
  const error = errorText(item.error);
  return {
    fileName: item.fileName ?? item.url ?? "",
    state: itemState(item.state, error !== undefined),
    ...(item.url !== undefined ? { url: item.url } : {}),
    ...(item.assetId !== undefined ? { assetId: item.assetId } : {}),
    ...(item.path !== undefined ? { path: item.path } : {}),
    ...(error !== undefined ? { error } : {}),
  };
}

function validateImport(request: AemImportRequest): void {
  const count = request.files.length;
  if (count === 0) throw new InvalidAemImportError("an AEM import needs at least one file");
  if (count > AEM_IMPORT_MAX_FILES) {
    throw new InvalidAemImportError(
      `an AEM import-from-URL request takes at most ${AEM_IMPORT_MAX_FILES} files, got ${count}: split it`,
    );
  }
  if (!AEM_FOLDER_PATTERN.test(request.folder)) {
    throw new InvalidAemImportError(
      `AEM import folder must be a /content/dam path or a urn:aaid id, got ${JSON.stringify(request.folder)}`,
    );
  }
  for (const file of request.files) {
    if (file.fileName === "") throw new InvalidAemImportError("every AEM import file needs a fileName");
  }
  // Types are not enough at runtime (the metadata comes from sidecars via a config mapping).
  for (const [property, value] of Object.entries(request.assetMetadata ?? {})) {
    const ok =
      property !== "" &&
      (typeof value === "string" || (Array.isArray(value) && value.every((v) => typeof v === "string")));
    if (!ok) {
      throw new InvalidAemImportError(
        `AEM asset metadata ${JSON.stringify(property)} must be a string or an array of strings`,
      );
    }
  }
}

/**
 * Builds the adapter with its own connection pool (`settings.upstream` is normally `aem`). Every
 * request carries the bearer token from `settings.auth` and the API key as `x-api-key`.
 */
export function createAemAdapter(settings: AemAdapterSettings): AemAdapter {
  const { apiKey, ...clientSettings } = settings;
  if (apiKey === "") throw new Error("the AEM adapter needs an API key (AEM_API_KEY)");
  const http = createUpstreamClient({
    ...clientSettings,
    defaultHeaders: { ...clientSettings.defaultHeaders, "x-api-key": apiKey },
  });
  const base = settings.baseUrl.replace(/\/+$/, "");
  const jobPath = (jobId: string) => `/import/jobs/${encodeURIComponent(jobId)}`;
  /** Location headers may be relative; the caller gets absolute URLs. */
  const absolute = (location: string) => new URL(location, `${base}/`).toString();

  return {
    async importFromUrl(request) {
      validateImport(request);
      const response = await http.request({
        operation: "importFromUrl",
        method: "POST",
        path: "/import/from-url",
        json: {
          folder: request.folder,
          files: request.files.map((file) => ({
            fileName: file.fileName,
            url: file.url,
            ...(file.mimeType !== undefined ? { mimeType: file.mimeType } : {}),
            ...(file.fileSize !== undefined ? { fileSize: file.fileSize } : {}),
          })),
          // Omitted when empty, so a route without a mapping sends what it always sent.
          ...(request.assetMetadata !== undefined && Object.keys(request.assetMetadata).length > 0
            ? { assetMetadata: request.assetMetadata }
            : {}),
        },
        schema: importAcceptedSchema,
        expect: [200, 201, 202],
      });
      const location = header(response.headers, "location");
      const fromLocation = location ? /\/import\/jobs\/([^/?#]+)\/status/.exec(location)?.[1] : undefined;
      const jobId = response.body.data?.id ?? (fromLocation ? decodeURIComponent(fromLocation) : undefined);
      if (jobId === undefined) {
        throw new Error("AEM accepted the import but named no job (no data.id, no Location header)");
      }
      return { jobId, statusUrl: location ? absolute(location) : `${base}${jobPath(jobId)}/status` };
    },

    async getStatus(jobId, etag) {
      const response = await http.request({
        operation: "getImportJobStatus",
        method: "GET",
        path: `${jobPath(jobId)}/status`,
        ...(etag !== undefined ? { headers: { "if-none-match": etag } } : {}),
        schema: jobStatusSchema,
        expect: [200, 303, 304],
      });
      const retryAfterMs = parseRetryAfter(response.headers["retry-after"]);
      const wait = retryAfterMs === undefined ? {} : { retryAfterMs };
      if (response.status === 304) return { kind: "not-modified", ...wait };
      const location = header(response.headers, "location");
      const resultUrl = location ? absolute(location) : `${base}${jobPath(jobId)}/result`;
      const state = response.body?.state;
      if (response.status === 303) {
        return { kind: "done", resultUrl, ...(state !== undefined ? { state } : {}) };
      }
      // The seed: a settled job may also answer 200 with its final status in the body.
      if (state !== undefined && jobSettled(state)) return { kind: "done", resultUrl, state };
      const tag = header(response.headers, "etag");
      return { kind: "processing", ...wait, ...(tag !== undefined ? { etag: tag } : {}) };
    },

    async getResult(jobId) {
      const items: AemImportResultItem[] = [];
      const seen = new Set<string>();
      let cursor: string | undefined;
      for (let page = 0; ; page += 1) {
        if (page >= MAX_RESULT_PAGES) {
          throw new Error(`AEM result of job ${jobId} did not end after ${MAX_RESULT_PAGES} pages`);
        }
        const response = await http.request({
          operation: "getImportJobResult",
          method: "GET",
          path: `${jobPath(jobId)}/result`,
          query: { limit: RESULT_PAGE_LIMIT, cursor },
          schema: resultPageSchema,
        });
        items.push(...response.body.items.map(toItem));
        const next = response.body.cursor ?? undefined;
        if (next === undefined || next === "") break;
        // A partial result must not pass for a whole one, so a cursor loop is an error.
        if (seen.has(next)) throw new Error(`AEM result of job ${jobId} repeated a cursor`);
        seen.add(next);
        cursor = next;
      }
      return { items };
    },

    close: () => http.close(),
  };
}
