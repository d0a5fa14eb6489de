'use strict';
/** Entry of a lane thread: a worker thread starts without the parent's TypeScript loader. */
require('tsx/cjs');
require('./lane-thread.ts');
