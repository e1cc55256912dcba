import type { ImportTask } from "../../adapters/ais/ais-adapter.js";
import type { IngestPackage } from "../../records/ingest-record.js";
import { taskMatchesPackage } from "./atom-push.js";

/** An ingest of an import job, as placement needs it. */
export interface PlacementIngest {
  id: string;
  pkg: IngestPackage;
}

/** Which ingest each task of an import job belongs to, and the tasks that belong to none. */
export interface Placement {
  /** Tasks by ingest id; an ingest without tasks has no entry. */
  byIngest: Map<string, ImportTask[]>;
  /** Tasks no candidate field names an entry for. */
  noEntry: ImportTask[];
  /** Tasks naming an entry (or version) that no ingest of the poll has. */
  unmatched: ImportTask[];
  /** Set when the poll's only ingest took the job's tasks by elimination. */
  byElimination?: string;
}

/**
 * Places the tasks of one import job to the ingests the poll follows, by the entry id and version
 * each task names (`taskMatchesPackage`).
 *
 * Seed 000 defines no task fields, so a tenant's tasks may name no entry the worker can read. When
 * the poll follows a single ingest (`pollSize` 1, the whole of a one-entry push, or a remediation's
 * follow-up), no task names its entry, and the tasks name at most one entry between them, every
 * task of the job is taken to be its: a job pushed for one entry holds nothing else. Otherwise
 * nothing is guessed; the tasks stay unplaced and job-poll leaves those ingests waiting (see
 * docs/upstreams.md).
 *
 * `ingests` holds every ingest of the poll that has a package, ended ones too, so that the tasks
 * of an ingest cancelled meanwhile do not count as unmatched.
 */
export function placeTasks(pollSize: number, ingests: PlacementIngest[], tasks: ImportTask[]): Placement {
  const byIngest = new Map<string, ImportTask[]>();
  const noEntry: ImportTask[] = [];
  const unmatched: ImportTask[] = [];
  for (const task of tasks) {
    if (task.entryId === undefined) {
      noEntry.push(task);
      continue;
    }
    const owners = ingests.filter((ingest) => taskMatchesPackage(task, ingest.pkg));
    if (owners.length === 0) unmatched.push(task);
    for (const owner of owners) byIngest.set(owner.id, [...(byIngest.get(owner.id) ?? []), task]);
  }
  const only = ingests[0];
  // A poll narrowed to one ingest of a larger job (the others finished) must not take their tasks:
  // tasks naming two or more entries are no one-entry job.
  const named = new Set(tasks.flatMap((task) => (task.entryId === undefined ? [] : [task.entryId])));
  const oneEntry = pollSize === 1 && ingests.length === 1 && named.size <= 1;
  if (oneEntry && only && !byIngest.has(only.id) && tasks.length > 0) {
    byIngest.set(only.id, [...tasks]);
    return { byIngest, noEntry, unmatched, byElimination: only.id };
  }
  return { byIngest, noEntry, unmatched };
}
