'use strict';
/**
 * A jest environment whose test realm shares the host realm's typed-array constructors.
 *
 * onnxruntime-node validates tensor data with `instanceof Float32Array` (and friends) using the
 * constructors of the realm it was loaded in. Jest evaluates test code in a separate VM context,
 * so a `new Float32Array()` written in a test would fail that check ("A float32 tensor's data must
 * be type of function Float32Array()"). Exposing the host constructors makes both agree.
 */
const { TestEnvironment } = require('jest-environment-node');

const SHARED_CONSTRUCTORS = [
  'ArrayBuffer',
  'SharedArrayBuffer',
  'DataView',
  'Int8Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
];

class HostRealmEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of SHARED_CONSTRUCTORS) {
      this.global[name] = globalThis[name];
    }
  }
}

module.exports = HostRealmEnvironment;
