/**
 * Where long core work (preparing a bundle, replaying a stream) reports how far it is. Core only
 * calls it; the CLI draws bars on a terminal and tests pass a silent one.
 */
export interface Progress {
  update(label: string, done: number, total: number): void;
  stop(): void;
}
