/**
 * The linger of the local stack's coalesced table calls (`BatchedSettles`, `BatchedReads`): how
 * long the first call of a batch waits for others. Both check it alike, so a bad value is refused
 * with the same words wherever it is given.
 */
export function checkLingerMs(lingerMs: number): number {
  if (!Number.isFinite(lingerMs) || lingerMs < 0) {
    throw new RangeError(`lingerMs must be a finite number of milliseconds, at least 0; got ${lingerMs}`);
  }
  return lingerMs;
}
