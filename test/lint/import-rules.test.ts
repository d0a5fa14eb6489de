/**
 * `npm run lint` enforces the import directions of docs/architecture.md: a deep import into another
 * deployable and an import cycle both fail it (the rest of the rules, eslint-import-boundaries.mjs,
 * hold over the repository itself every time lint runs). Both checks run here exactly as lint runs them: eslint
 * with the repository's own config, and the `lint:cycles` script from package.json.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..', '..');
const BIN = join(ROOT, 'node_modules', '.bin');

/** Lints `text` as if it were the file at `path` (an existing file, so the type-aware rules apply). */
function lintAs(path: string, text: string): { status: number | null; output: string } {
  const result = spawnSync(join(BIN, 'eslint'), ['--stdin', '--stdin-filename', path], {
    cwd: ROOT,
    input: text,
    encoding: 'utf8',
  });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe('the import rules lint enforces', () => {
  it('fails a deep import into another deployable', () => {
    // Given a CLI file that reaches into the worker's internals instead of its entry
    const deep = lintAs(
      'cli/commands/zoo.ts',
      "import { ApparateWorker } from '../../gpu-worker/worker';\nexport const worker = ApparateWorker;\n",
    );

    // Then lint fails it and says which rule and what to import instead
    expect(deep.status).toBe(1);
    expect(deep.output).toContain('no-restricted-imports');
    expect(deep.output).toContain('gpu-worker/index.ts');
  }, 300_000);

  it('fails an import cycle', () => {
    // Given two core files that import each other, in a scratch tree
    const work = mkdtempSync(join(tmpdir(), 'apparate-cycles-'));
    mkdirSync(join(work, 'core'));
    writeFileSync(join(work, 'core', 'a.ts'), "import { b } from './b';\nexport const a = () => b;\n");
    writeFileSync(join(work, 'core', 'b.ts'), "import { a } from './a';\nexport const b = () => a;\n");
    const script = (
      JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
        scripts: Record<string, string>;
      }
    ).scripts['lint:cycles'] as string;

    // When lint's cycle check runs over it
    const result = spawnSync('sh', ['-c', script], {
      cwd: work,
      encoding: 'utf8',
      env: { ...process.env, PATH: `${BIN}:${process.env['PATH'] ?? ''}` },
    });
    rmSync(work, { recursive: true, force: true });

    // Then it fails naming the cycle
    expect(result.status).toBe(1);
    expect(result.stdout).toMatch(/core\/[ab]\.ts -> core\/[ab]\.ts/);
  }, 120_000);
});
