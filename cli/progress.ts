/**
 * Progress bars for long CLI work. They draw on stderr and only on a terminal, so `--json` output
 * on stdout stays machine-readable and logs in CI stay free of control characters.
 */
import { SingleBar, Presets } from 'cli-progress';
import type { Progress } from '../core/util/progress';
import type { CommandIo } from './command';

export type { Progress };

/** A progress reporter that draws one bar per label on a terminal and does nothing elsewhere. */
export function createProgress(io: CommandIo, enabled = true): Progress {
  if (!enabled || !io.stderr.isTTY) return { update: () => undefined, stop: () => undefined };
  let bar: SingleBar | undefined;
  let current = '';
  return {
    update(label, done, total) {
      if (label !== current) {
        bar?.stop();
        current = label;
        bar = new SingleBar(
          {
            format: `${label.padEnd(28)} [{bar}] {value}/{total} {eta_formatted}`,
            stream: io.stderr,
            clearOnComplete: false,
          },
          Presets.shades_classic,
        );
        bar.start(total, done);
      }
      bar?.update(done);
    },
    stop() {
      bar?.stop();
      bar = undefined;
      current = '';
    },
  };
}
