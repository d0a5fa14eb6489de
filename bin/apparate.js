#!/usr/bin/env node
'use strict';
/**
 * The `apparate` command. The sources are TypeScript run through tsx's CommonJS hook, so a fresh
 * clone needs no build step between `npm ci` and the first command.
 */
// The AWS SDK warns on Node 20 about releases due in 2027; the versions this lockfile pins support
// Node 20, so the warning would only clutter every command's output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
require('tsx/cjs');
const { main } = require('../cli/main.ts');

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    process.stderr.write(`apparate: internal error: ${error && error.stack ? error.stack : String(error)}\n`);
    process.exitCode = 1;
  },
);
