import { request } from "undici";
import type { SimContext } from "../core/types.js";
import { seededUuid } from "../module-kit/ids.js";
import { fileState, type ImportFile, type ImportJob } from "./jobs.js";
import type { AemSettings } from "./settings.js";

/** Delivery counters for the stats. */
export interface WebhookCounters {
  delivered: number;
  failed: number;
  attempts: number;
}

/** How long to look again when files are due but their URL probe has not answered yet (real ms). */
const CHECK_AGAIN_MS = 25;
const DELIVERY_TIMEOUT_MS = 5_000;

/**
 * Sends `aem.assets.asset.processing_completed` CloudEvents as a job's files are imported, the way
 * seed 003 describes the webhook: the whole event as the body with `content-type: application/json`
 * (not `application/cloudevents+json`), no credentials of any kind ("Security None"), and success
 * only when the receiver answers 200. The `data` carries the asset's `repositoryMetadata` and
 * nothing about the import job: an asset event is about the asset. One timer per job, armed for
 * the next file due; jobs without a webhook have none.
 */
export class WebhookSender {
  readonly counters: WebhookCounters = { delivered: 0, failed: 0, attempts: 0 };
  private readonly timers = new Set<NodeJS.Timeout>();
  private generation = 0;

  constructor(
    private readonly ctx: SimContext,
    private readonly settings: () => AemSettings,
  ) {}

  /** Starts following a job; call once, after creating it. */
  follow(job: ImportJob): void {
    if (job.webhookUrl === undefined) return;
    this.arm(job, this.generation);
  }

  /** Stops every timer and forgets in-flight retries (their results are ignored). */
  reset(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.generation += 1;
    Object.assign(this.counters, { delivered: 0, failed: 0, attempts: 0 });
  }

  private arm(job: ImportJob, generation: number): void {
    const now = this.ctx.now();
    let nextDue = Number.POSITIVE_INFINITY;
    let waitingOnChecks = false;
    for (const file of job.files) {
      if (file.eventQueued) continue;
      const state = fileState(file, now);
      if (state === "IMPORTED") {
        file.eventQueued = true;
        void this.deliver(job, file, generation);
      } else if (state === "FAILED") {
        // No processing_completed for a file that never became an asset.
        file.eventQueued = true;
      } else if (now < file.dueAt) {
        nextDue = Math.min(nextDue, file.dueAt);
      } else {
        waitingOnChecks = true;
      }
    }
    let delay: number | undefined;
    if (nextDue !== Number.POSITIVE_INFINITY) delay = Math.max(1, nextDue - now);
    if (waitingOnChecks) delay = Math.min(delay ?? CHECK_AGAIN_MS, CHECK_AGAIN_MS);
    if (delay === undefined) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (generation === this.generation) this.arm(job, generation);
    }, delay);
    timer.unref();
    this.timers.add(timer);
  }

  private async deliver(job: ImportJob, file: ImportFile, generation: number): Promise<void> {
    const settings = this.settings();
    const event = {
      specversion: "1.0",
      type: "aem.assets.asset.processing_completed",
      source: `acct:aem-p${settings.programId}-e${settings.environmentId}@adobe.com`,
      id: seededUuid(this.ctx),
      time: new Date(this.ctx.now()).toISOString(),
      datacontenttype: "application/json",
      data: {
        repositoryMetadata: {
          "repo:assetId": file.assetId,
          "repo:name": file.fileName,
          "repo:path": job.folder.startsWith("/")
            ? `${job.folder.replace(/\/$/, "")}/${file.fileName}`
            : undefined,
          "dc:format": file.mimeType,
          "repo:size": file.fileSize,
        },
      },
    };
    const body = JSON.stringify(event);
    for (let attempt = 1; attempt <= settings.webhookMaxAttempts; attempt += 1) {
      if (generation !== this.generation) return;
      this.counters.attempts += 1;
      if (await this.post(job.webhookUrl ?? "", body)) {
        this.counters.delivered += 1;
        return;
      }
      if (attempt < settings.webhookMaxAttempts) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(
            () => {
              this.timers.delete(timer);
              resolve();
            },
            this.ctx.scaled(1000 * 2 ** (attempt - 1)),
          );
          timer.unref();
          this.timers.add(timer);
        });
      }
    }
    if (generation === this.generation) this.counters.failed += 1;
  }

  private async post(url: string, body: string): Promise<boolean> {
    try {
      const response = await request(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
        signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
      });
      await response.body.dump();
      // The seed's receiver answers 200; anything else is a failed delivery, retried.
      return response.statusCode === 200;
    } catch {
      return false;
    }
  }
}
