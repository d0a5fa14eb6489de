/**
 * `apparate inspect`: where ramps could go in a model, with the tensors, shapes and the share of
 * the model's measured latency before each position. Works on any ONNX classifier.
 */
import { analyseSource } from '../../core/prepare/model-source';
import { inspectModel, type InspectReport } from '../../core/prepare/inspect-model';
import type { Command } from '../command';
import { INPUT_SHAPE_OPTION, inputShapeOption, numberOption, requiredString } from '../options';

function formatReport(report: InspectReport): string {
  const lines = [
    `${report.model}: ${report.candidates.length} candidate positions (${report.candidateStrategy}); plain model ${report.plainMs.toFixed(2)} ms at batch ${report.batchSize}`,
    '',
    `${'id'.padEnd(5)}${'latency'.padStart(9)}${'MACs'.padStart(8)}  ${'kind'.padEnd(9)}${'shape'.padEnd(22)}tensor`,
  ];
  for (const c of report.candidates) {
    lines.push(
      `${c.id.padEnd(5)}${(c.latencyFraction * 100).toFixed(1).padStart(8)}%${(c.costFraction * 100).toFixed(1).padStart(7)}%  ${c.kind.padEnd(9)}${`[${c.shape.join(',')}]`.padEnd(22)}${c.tensor}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

export const inspectCommand: Command = {
  name: 'inspect',
  summary: "list a model's candidate ramp positions and where they sit in its latency",
  usage: 'apparate inspect --model <dir-or-onnx> [--input-shape NAME=D1,D2,...] [--json] [--batch-size <n>]',
  options: {
    model: {
      type: 'string',
      description: 'model directory (with model.json or model.onnx) or an .onnx file',
    },
    'input-shape': INPUT_SHAPE_OPTION,
    json: { type: 'boolean', description: 'print the report as JSON' },
    'batch-size': { type: 'string', description: 'batch size at which latency is measured (default 8)' },
  },
  async run(values, _positionals, io) {
    const location = requiredString(values, 'model', 'dir-or-onnx');
    const batchSize = numberOption(values, 'batch-size', {
      default: 8,
      min: 1,
      minInclusive: true,
      max: 256,
      integer: true,
    });
    const report = await inspectModel(await analyseSource(location, inputShapeOption(values)), { batchSize });
    io.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
    return 0;
  },
};
