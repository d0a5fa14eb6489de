'use strict';
/**
 * Entry point of the inference thread. A worker thread starts with a bare module loader: neither
 * the parent's tsx hook (the CLI) nor ts-jest's transform (tests) reaches it. Installing tsx's
 * CommonJS hook here, before loading the TypeScript thread, makes both cases work the same way.
 */
require('tsx/cjs');
require('./inference-thread.ts');
