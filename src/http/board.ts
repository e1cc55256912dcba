import { createBullBoard } from "@bull-board/api";
import { BullMQAdapter } from "@bull-board/api/bullMQAdapter";
import { FastifyAdapter } from "@bull-board/fastify";
import type { Queue } from "bullmq";
import type { FastifyInstance } from "fastify";
import { apiAuth } from "./auth.js";
import { rewriteBoardHtml } from "./board-html.js";

/** Where the board is served. */
export const BOARD_PATH = "/admin/queues";

/** The board's page title and header (Bull Board's default is "Bull Dashboard"). */
export const BOARD_TITLE = "ingest-worker queues";

/** Options of {@link registerBoard}. */
export interface BoardOptions {
  /** `API_TOKEN`; unset: the board answers 401. */
  token: string | undefined;
  /** `BOARD_READ_ONLY`: hide retry/remove/promote, so the board can only look. */
  readOnly: boolean;
  queues: Iterable<Queue>;
}

/**
 * Bull Board for every queue at `/admin/queues`. It sits in its own fastify scope with the
 * `API_TOKEN` hook, which also accepts HTTP Basic `admin:<API_TOKEN>` so a browser (which cannot
 * send a bearer header) gets a login prompt. Read-only by default: the board's buttons act on jobs
 * directly and bypass the ingest records, so retries belong to `POST /v1/ingests/{id}/retry`.
 * Its page is served without external requests and works when opened with the credentials in the
 * URL (see `board-html.ts`).
 */
export async function registerBoard(app: FastifyInstance, options: BoardOptions): Promise<void> {
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(BOARD_PATH);
  createBullBoard({
    queues: [...options.queues].map((queue) => new BullMQAdapter(queue, { readOnlyMode: options.readOnly })),
    // @bull-board/fastify pins its own patch release of @bull-board/api; the interface is identical.
    serverAdapter: serverAdapter as unknown as Parameters<typeof createBullBoard>[0]["serverAdapter"],
    options: { uiConfig: { boardTitle: BOARD_TITLE, hideDocsLink: true } },
  });
  await app.register(async (scope) => {
    scope.addHook("onRequest", apiAuth({ token: options.token, allowBasic: true }));
    scope.addHook("onSend", async (_request, reply, payload) => {
      const type = reply.getHeader("content-type");
      return typeof payload === "string" && typeof type === "string" && type.startsWith("text/html")
        ? rewriteBoardHtml(payload)
        : payload;
    });
    await scope.register(serverAdapter.registerPlugin(), { prefix: BOARD_PATH });
  });
}
