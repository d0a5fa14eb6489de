/**
 * Whether onnxruntime plans each run's memory as one block. By default onnxruntime records the
 * allocations of a session's first run for a set of input shapes (its memory pattern) and then
 * takes one block for all of them in every later run. Where every session shares the process's
 * arena (shared-arena.ts), that block is still the session's own: a chain of segment sessions
 * keeps one such block per segment, side by side, and each segment runs in memory the others do
 * not touch. Without the pattern each tensor is taken from the shared arena when the run needs it
 * and handed back when done, so the next segment runs in memory the previous one has just used.
 *
 * Which is better depends on the model and the host (docs/benchmarks.md, "One block per run, or
 * the arena's warm memory" and "A slower AMD host"): on MobileNetV3-small cut in the middle,
 * leaving the pattern out took the cut from 2.9% of the whole model to 1.0% and the whole model ran
 * no slower; in the worker at saturation spam-bert served 11–12% more requests a second without it
 * and mnist-resnet 3–5% fewer on one host, and neither moved on another. So the pattern stays, as
 * onnxruntime has it, unless an operator turns it off for a model that gains where it is served.
 */

/**
 * `APPARATE_MEMORY_PATTERN=off` leaves the pattern out of every session that shares the arena.
 */
const SWITCH = 'APPARATE_MEMORY_PATTERN';

/**
 * Whether a session plans its runs' memory as one block unless told otherwise: always, except on
 * the shared arena with `APPARATE_MEMORY_PATTERN=off`.
 */
export function memoryPatternFor(sharedArena: boolean): boolean {
  return !(sharedArena && process.env[SWITCH] === 'off');
}
