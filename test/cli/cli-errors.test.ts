import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { runCli } from '../support/run-cli';

const BIN = join(__dirname, '..', '..', 'bin', 'apparate.js');

describe('apparate CLI bad input', () => {
  it.each([
    [['frobnicate'], /unknown command "frobnicate"; allowed: zoo/],
    [['zoo', '--colour'], /Unknown option '--colour'; allowed options for zoo: --json/],
    [
      ['zoo', '--model', './no/such/model'],
      /model \.\/no\/such\/model does not exist; give a model directory/,
    ],
    [
      ['zoo', '--model', 'resnet-9000'],
      /unknown fixture model resnet-9000; allowed: mnist-resnet, mnist-resnet-medium, mnist-resnet-small, spam-bert, spam-bert-medium, spam-bert-small or a path/,
    ],
    [['zoo', '--single-samples', 'many'], /--single-samples must be a positive integer, got many/],
  ])('%j exits 2 with one line saying what was wrong and what is allowed', async (args, message) => {
    const result = await runCli(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(result.stdout).toBe('');
  });

  it('exits 2 from the real executable for an unknown command', () => {
    const result = spawnSync(process.execPath, [BIN, 'frobnicate'], { encoding: 'utf8' });
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/^apparate: unknown command "frobnicate"/);
  });

  it('prints help for every command and exits 0', async () => {
    const result = await runCli(['zoo', '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/usage: apparate zoo/);
    expect(result.stdout).toMatch(/--json/);
  });
});
