/**
 * Deterministic weighted choice: smooth weighted round robin (as nginx balances upstreams). Each
 * pick adds every option's weight to its running credit, chooses the option with the most credit
 * and takes the total weight off it. Over any n picks an option is chosen within one of n times its
 * share, and the choices interleave (weights 0.5/0.25/0.25 give a b a c, not a a b c), so every
 * stretch of requests, however short, follows the plan's split; a random choice would be off by
 * about √n. Zero weights are never chosen.
 */
import { InputError } from '../errors';

export interface WeightedOption<T> {
  readonly value: T;
  readonly weight: number;
}

export class SmoothWeightedChoice<T> {
  private readonly options: readonly WeightedOption<T>[];
  private readonly credit: number[];
  private readonly total: number;

  constructor(options: readonly WeightedOption<T>[]) {
    const positive = options.filter((option) => option.weight > 0);
    for (const option of options) {
      if (!(Number.isFinite(option.weight) && option.weight >= 0)) {
        throw new InputError(`a weight must be a finite number ≥ 0, got ${option.weight}`);
      }
    }
    if (positive.length === 0) throw new InputError('a weighted choice needs at least one positive weight');
    this.options = positive;
    this.credit = positive.map(() => 0);
    this.total = positive.reduce((sum, option) => sum + option.weight, 0);
  }

  /** The next choice. */
  next(): T {
    let best = 0;
    for (let i = 0; i < this.options.length; i++) {
      this.credit[i] = (this.credit[i] as number) + (this.options[i] as WeightedOption<T>).weight;
      if ((this.credit[i] as number) > (this.credit[best] as number)) best = i;
    }
    this.credit[best] = (this.credit[best] as number) - this.total;
    return (this.options[best] as WeightedOption<T>).value;
  }

  /** Each option's share of the choices (its weight over the total). */
  shares(): Map<T, number> {
    return new Map(this.options.map((option) => [option.value, option.weight / this.total]));
  }
}
