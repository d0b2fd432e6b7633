// The conv head's WebAssembly module is generated from src/head/conv-kernel.wat: the committed
// bytes must be what the source compiles to (edit the .wat, then run scripts/build-head-wasm.mjs).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import wabt from 'wabt';
import { CONV_KERNEL_WASM } from '../src/head/conv-kernel-wasm.js';

test('conv-kernel-wasm.ts is the compiled conv-kernel.wat', async () => {
  const w = await wabt();
  const mod = w.parseWat('conv-kernel.wat', await readFile(new URL('../src/head/conv-kernel.wat', import.meta.url), 'utf8'));
  mod.validate();
  const { buffer } = mod.toBinary({});
  mod.destroy();
  assert.equal(CONV_KERNEL_WASM, Buffer.from(buffer).toString('base64'), 'run node scripts/build-head-wasm.mjs');
  assert.ok(WebAssembly.validate(Buffer.from(CONV_KERNEL_WASM, 'base64')));
});
