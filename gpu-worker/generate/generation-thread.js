'use strict';
/**
 * Entry point of the generation thread: installs the TypeScript loader (a worker thread starts
 * without the parent's tsx hook or ts-jest's transform), then loads the thread itself.
 */
require('tsx/cjs');
require('./generation-thread.ts');
