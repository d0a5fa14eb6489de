import { runCli } from '../support/run-cli';

describe('apparate generate', () => {
  it('refuses a bad option value before opening the model, saying what is allowed', async () => {
    const result = await runCli(['generate', '--max-rows', '0']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--max-rows must be an integer in \[1, 256\], got 0/);
    expect(result.stdout).toBe('');
  });

  it('describes its options in --help', async () => {
    const result = await runCli(['generate', '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/usage: apparate generate/);
    expect(result.stdout).toMatch(/--max-held-tokens/);
  });
});
