/** Bare-BullMQ stages of the ceiling. */
export const STAGES = 6;
/**
 * Short waits for the worker and the reference (the defaults are 250 and 2000 ms), so latency
 * measures the chain rather than its configured patience.
 */
export const ATOM_BATCH_MAX_WAIT_MS = 50;
/** ATOM_BATCH_MAX_ENTRIES of the worker (its default) and the reference. */
export const ATOM_BATCH_MAX_ENTRIES = 50;
export const POLL_INITIAL_DELAY_MS = 50;
/** WORKER_CONCURRENCY of the worker, the reference and the ceiling. */
export const CONCURRENCY = 16;
