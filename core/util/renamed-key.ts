/**
 * Records outlive the names of their fields: bundles on disk and messages waiting in a queue were
 * written by earlier versions. A schema reads them through `z.preprocess(renamedKey(old, current),
 * ...)`: the value under the old name moves to the current one, unless the record already has the
 * current one (then the old field is dropped), so one schema checks both generations.
 */
export function renamedKey(oldKey: string, currentKey: string): (raw: unknown) => unknown {
  return (raw) => {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || !(oldKey in raw)) return raw;
    const { [oldKey]: value, ...rest } = raw as Record<string, unknown>;
    return currentKey in rest ? rest : { ...rest, [currentKey]: value };
  };
}
