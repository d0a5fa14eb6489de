#!/usr/bin/env node
'use strict';
/** `npm run bench -- <name>`: runs bench/<name>.ts (TypeScript through tsx, like the CLI). */
require('tsx/cjs');
const { runBenchmark } = require('../bench/run.ts');

runBenchmark(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    process.stderr.write(`bench: ${error && error.stack ? error.stack : String(error)}\n`);
    process.exitCode = 1;
  },
);
