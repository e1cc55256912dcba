import type { HistoryEntry, IngestRecord } from "./ingest-record.js";
import { listCursor, type ListQuery, type RecordStore } from "./record-store.js";

/** What the ingests API, the CLI and backfill read: one partition's store, or all of them. */
export interface IngestReader extends Pick<RecordStore, "get" | "getMany" | "list"> {
  history(id: string): Promise<HistoryEntry[]>;
}

/**
 * The records of every partition read as one store (PARTITIONS). An ingest id is the hash of an
 * object version and says nothing of its partition, so a lookup by id asks every partition (one
 * EXISTS each, in parallel: an operator's read, not a hot path); a listing merges the partitions'
 * newest-first pages by the same (createdAt, id) order each one pages by.
 */
export class PartitionedRecords implements IngestReader {
  constructor(readonly stores: readonly RecordStore[]) {}

  /** The index of the partition holding `id`, or undefined. */
  async locate(id: string): Promise<number | undefined> {
    if (this.stores.length === 1) return 0;
    const found = await Promise.all(this.stores.map((store) => store.exists(id)));
    const index = found.indexOf(true);
    return index < 0 ? undefined : index;
  }

  async get(id: string): Promise<IngestRecord | undefined> {
    if (this.stores.length === 1) return this.stores[0]!.get(id);
    const records = await Promise.all(this.stores.map((store) => store.get(id)));
    return records.find((record) => record !== undefined);
  }

  async getMany(ids: readonly string[]): Promise<Array<IngestRecord | undefined>> {
    if (this.stores.length === 1) return this.stores[0]!.getMany(ids);
    const perStore = await Promise.all(this.stores.map((store) => store.getMany(ids)));
    return ids.map((_, i) => perStore.map((records) => records[i]).find((record) => record !== undefined));
  }

  async history(id: string): Promise<HistoryEntry[]> {
    const index = await this.locate(id);
    return index === undefined ? [] : this.stores[index]!.history(id);
  }

  async list(query: ListQuery): Promise<{ items: IngestRecord[]; nextCursor?: string }> {
    if (this.stores.length === 1) return this.stores[0]!.list(query);
    const pages = await Promise.all(this.stores.map((store) => store.list(query)));
    const merged = pages
      .flatMap((page) => page.items)
      .sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
    const items = merged.slice(0, query.limit);
    const more = merged.length > query.limit || pages.some((page) => page.nextCursor !== undefined);
    const last = items.at(-1);
    return more && last ? { items, nextCursor: listCursor(last) } : { items };
  }
}
