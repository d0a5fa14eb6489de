/**
 * Keeps the worker on the newest ramp config the controller has published. It polls the config
 * table (a worker has no inbound network, so nothing can push to it) and hands a newer version to
 * the engine, which validates it against the bundle, builds its sessions in the background and
 * switches between two batches. A config the engine refuses is logged once and skipped; the last
 * good one keeps serving. Versions only increase: anything not newer than what serves is ignored.
 */
import type { ConfigStore } from '../adapters/dynamo';
import type { RampConfig } from '../core/control/ramp-config';
import { messageOf, type Logger } from './logger';

/** How often the table is read, by default: fast enough to follow the controller's retunes. */
export const DEFAULT_CONFIG_POLL_MS = 5000;

export interface ConfigWatcherOptions {
  readonly store: Pick<ConfigStore, 'latest'>;
  readonly model: string;
  /** The version serving now. */
  readonly currentVersion: () => number;
  /** Applies a config (the engine's swap); rejects when it refuses it. */
  readonly apply: (config: RampConfig) => Promise<void>;
  readonly logger: Logger;
  /** @default DEFAULT_CONFIG_POLL_MS */
  readonly pollMs?: number;
  /** Called after a config took over. */
  readonly onApplied?: (config: RampConfig) => void;
}

export class ConfigWatcher {
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> = Promise.resolve();
  private stopped = false;
  /** The highest version refused, so a bad config is reported once rather than every poll. */
  private refusedVersion = -1;

  constructor(private readonly options: ConfigWatcherOptions) {}

  /** Starts polling (first poll now). */
  start(): void {
    this.schedule(0);
  }

  /** Reads the table once and applies a newer valid config; never rejects. */
  pollOnce(): Promise<void> {
    this.polling = this.polling.then(() => this.poll());
    return this.polling;
  }

  /** Stops polling and waits for a poll (and a swap) in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.polling;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.pollOnce().then(() => this.schedule(this.options.pollMs ?? DEFAULT_CONFIG_POLL_MS));
    }, delayMs);
    this.timer.unref();
  }

  private async poll(): Promise<void> {
    const { store, model, logger } = this.options;
    let latest: RampConfig | undefined;
    try {
      latest = (await store.latest(model))?.config;
    } catch (error) {
      logger.log('warn', 'config poll failed', { model, error: messageOf(error) });
      return;
    }
    if (latest === undefined || this.stopped) return;
    const current = this.options.currentVersion();
    if (latest.version <= current || latest.version <= this.refusedVersion) return;
    try {
      await this.options.apply(latest);
      logger.log('info', 'config applied', { model, version: latest.version, previousVersion: current });
      this.options.onApplied?.(latest);
    } catch (error) {
      this.refusedVersion = latest.version;
      logger.log('warn', 'config refused', { model, version: latest.version, error: messageOf(error) });
    }
  }
}
