/**
 * Jest runs every test file in its own VM realm, so typed arrays created in a test are not
 * `instanceof` the host realm's constructors that onnxruntime-node checks against. The custom
 * environment in test/support hands the host realm's typed arrays to each test realm once, here,
 * instead of working around it in every test.
 * @type {import('jest').Config}
 */
// The AWS SDK warns on Node 20 about its releases due in 2027; the pinned versions support Node 20.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

module.exports = {
  testEnvironment: '<rootDir>/test/support/host-realm-environment.js',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }],
  },
  // Generous: suites prepare real bundles in their hooks, which is slow on a busy 2-core machine.
  testTimeout: 300000,
  maxWorkers: 2,
};
