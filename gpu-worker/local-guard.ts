/**
 * The worker's fast local guard. The controller retunes thresholds on a schedule; between two of
 * its configs the inputs may get harder, and early answers would then disagree with the full model
 * more often than the constraint allows. The guard watches this worker's own recent inputs and,
 * the moment their agreement under the thresholds in force falls below the constraint, lowers
 * thresholds (only ever lowers: it may make exiting more conservative, never more aggressive).
 *
 * Its thresholds are local and belong to one config version: a new config from the controller
 * replaces them and starts a fresh window, since the controller has seen the newer evidence.
 */
import type { RampConfig } from '../core/control/ramp-config';
import { countExits } from '../core/control/exit-rule';
import { appendToWindow, emptyWindow, type ExitWindow } from '../core/control/records';
import { DEFAULT_CONSTRAINT, lowerThresholdsToMeetConstraint } from '../core/control/threshold-tuner';

export interface LocalGuardOptions {
  /** Minimum agreement of released answers, inclusive. @default 0.99 */
  readonly constraint?: number;
  /** Inputs kept in the window. @default 512 */
  readonly windowInputs?: number;
  /**
   * Inputs needed before the guard acts: with a handful, one wrong exit reads as a large miss.
   * @default 100
   */
  readonly minInputs?: number;
}

/** What the guard concluded after a batch. */
export interface GuardVerdict {
  /** Agreement over the window under the thresholds now in force. */
  readonly agreement: number;
  /** The thresholds it lowered to, when it lowered any. */
  readonly lowered?: readonly number[];
}

export class LocalGuard {
  /** Minimum agreement it holds: the deployment's accuracy constraint, as the controller's. */
  readonly constraint: number;
  private readonly windowInputs: number;
  private readonly minInputs: number;
  private version = -1;
  private window: ExitWindow = emptyWindow(0);
  private thresholds: number[] = [];

  constructor(options: LocalGuardOptions = {}) {
    this.constraint = options.constraint ?? DEFAULT_CONSTRAINT;
    this.windowInputs = options.windowInputs ?? 512;
    this.minInputs = options.minInputs ?? 100;
  }

  /**
   * The thresholds to apply to a batch running under `config`: the config's own, or the guard's
   * lower ones while the guard has lowered them for this very version.
   */
  thresholdsFor(config: RampConfig): readonly number[] {
    if (config.version !== this.version) return config.ramps.map((ramp) => ramp.threshold);
    return this.thresholds;
  }

  /**
   * Adds one batch's observations (per ramp of `config`: confidences and agreement with the final
   * answer) and lowers thresholds at once if the window now misses the constraint.
   */
  observe(config: RampConfig, confidence: Float32Array[], agrees: Uint8Array[]): GuardVerdict {
    if (config.version !== this.version) this.reset(config);
    this.window = appendToWindow(
      this.window,
      { count: confidence[0]?.length ?? 0, confidence, agrees },
      this.windowInputs,
    );
    if (this.window.count < this.minInputs || this.thresholds.every((t) => t === 0)) {
      return { agreement: this.agreement() };
    }
    const result = lowerThresholdsToMeetConstraint(this.window, this.thresholds, this.constraint);
    if (!result.lowered) return { agreement: result.agreement };
    this.thresholds = result.thresholds;
    return { agreement: result.agreement, lowered: result.thresholds };
  }

  private reset(config: RampConfig): void {
    this.version = config.version;
    this.thresholds = config.ramps.map((ramp) => ramp.threshold);
    this.window = emptyWindow(config.ramps.length);
  }

  /** Agreement of the window under the current thresholds (1 for an empty window). */
  private agreement(): number {
    if (this.window.count === 0) return 1;
    return countExits(this.window, this.thresholds).correct / this.window.count;
  }
}
