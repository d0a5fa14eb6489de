/**
 * Drops the fields whose value is undefined: DynamoDB cannot store them, JSON drops them anyway,
 * and readers should never see an `undefined` key.
 */
export function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as T;
}
