/**
 * The fewest Atom pushes that could carry a run's events with at most `maxEntries` entries each
 * (ATOM_BATCH_MAX_ENTRIES) and no entry waiting longer than `maxWaitMs` from its event to its push.
 * The entries of one push were then all sent within `maxWaitMs` of its first, so this is the least
 * number of such groups covering `eventAts`, which greedy grouping finds: open a group at the
 * earliest entry left, fill it with every later entry up to `maxWaitMs` after it, `maxEntries` at
 * most.
 *
 * The benchmark passes the run's own longest event→push wait: any worker that kept every entry's
 * wait within what this run achieved needs at least this many pushes, and so does the run itself
 * (a lower bound it cannot beat). A burst, where entries waited seconds, gets full pushes, `n /
 * maxEntries`; a steady rate that gathers a few events per wait gets more, and the minimum counts
 * them instead of holding the run to pushes it could only fill by waiting longer.
 */
export function fewestPushes(eventAts: readonly number[], maxWaitMs: number, maxEntries: number): number {
  const times = [...eventAts].sort((a, b) => a - b);
  let pushes = 0;
  for (let i = 0; i < times.length; pushes++) {
    const opened = times[i]!;
    const last = Math.min(i + maxEntries, times.length);
    i++;
    while (i < last && times[i]! - opened <= maxWaitMs) i++;
  }
  return pushes;
}
