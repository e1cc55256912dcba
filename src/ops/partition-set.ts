import type { Queue } from "bullmq";
import { partitionOf } from "../queues/partitions.js";
import { PartitionedRecords } from "../records/partitioned-records.js";
import type { RecordStore } from "../records/record-store.js";

/** What an operator action needs of one partition: its records and its source-watch queue. */
export interface OpsPartition {
  records: RecordStore;
  sourceWatch: Queue;
}

/**
 * Every partition as the operator actions (retry, cancel, replay, bulk retry) and the ingests API
 * see them: an ingest is found in whichever partition holds it, an object goes to the partition its
 * bucket and key hash to, and listings span them all.
 */
export class PartitionSet {
  readonly records: PartitionedRecords;

  constructor(readonly partitions: readonly OpsPartition[]) {
    if (partitions.length === 0) throw new Error("a PartitionSet needs at least one partition");
    this.records = new PartitionedRecords(partitions.map((p) => p.records));
  }

  /** The partition holding ingest `id`, or undefined when no partition has it. */
  async forIngest(id: string): Promise<OpsPartition | undefined> {
    const index = await this.records.locate(id);
    return index === undefined ? undefined : this.partitions[index];
  }

  /** The partition an object's events go to. */
  forObject(bucket: string, key: string): OpsPartition {
    return this.partitions[partitionOf(bucket, key, this.partitions.length)]!;
  }
}
