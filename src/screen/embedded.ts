import type { BatchExecutor } from './drive.js';
import type { ScreenModel } from './model.js';

/**
 * Runs batches in this process on one loaded model, `concurrency` at a time. Two in flight
 * overlap one batch's reading and decoding (sharp's threads) with the other's forward pass
 * (onnxruntime's threads), which keeps every core busy without a second copy of the model.
 */
export function embeddedExecutor(model: ScreenModel, concurrency = 2): BatchExecutor {
  return {
    concurrency,
    run: (_key, items, signal) => model.predict(items, { signal }),
    close: () => model.release(),
  };
}
