/**
 * Worker thread of the conv-head batch pool: waits for a batch (CTRL_GEN), computes slots until none
 * is left, and waits again; exits on CTRL_STOP. Failures are reported through the shared buffers.
 */
import { workerData } from 'node:worker_threads';
import { CTRL_GEN, CTRL_READY, CTRL_STOP, ConvSlotRunner, reportWorkerError, type ConvBatchBuffers } from './conv-batch.js';
import type { HeadSpec } from './types.js';

const { spec, buffers } = workerData as { spec: HeadSpec; buffers: ConvBatchBuffers };
try {
  const runner = new ConvSlotRunner(spec, buffers, true);
  const ctrl = buffers.ctrl;
  Atomics.add(ctrl, CTRL_READY, 1);
  Atomics.notify(ctrl, CTRL_READY);
  let seen = 0;
  for (;;) {
    Atomics.wait(ctrl, CTRL_GEN, seen);
    if (Atomics.load(ctrl, CTRL_STOP) !== 0) break;
    seen = Atomics.load(ctrl, CTRL_GEN);
    runner.run();
  }
} catch (e) {
  reportWorkerError(buffers, e);
}
