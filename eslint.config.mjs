// One lint setup for the whole repository: type-aware TypeScript rules (floating promises are
// errors), the allowed import directions between deployables (eslint-import-boundaries.mjs) and
// jest rules (focused or disabled tests are errors).
import tseslint from 'typescript-eslint';
import jest from 'eslint-plugin-jest';
import { importBoundaries } from './eslint-import-boundaries.mjs';

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      'zoo/**',
      'cdk.out/**',
      '.cache/**',
      'docs/**',
      'coverage/**',
      '**/*.js',
      '**/*.mjs',
    ],
  },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  ...importBoundaries,
  {
    files: ['test/**/*.ts'],
    plugins: { jest },
    rules: {
      ...jest.configs['flat/recommended'].rules,
      'jest/no-focused-tests': 'error',
      'jest/no-disabled-tests': 'error',
      'jest/expect-expect': 'error',
    },
  },
);
