// A complete, valid run record for tests that assemble a run folder by hand (a model file and a head).
import { readFile } from 'node:fs/promises';
import { completeManifest, type HeadKind } from '../../src/backbone/manifest.js';
import { PAPER_PROTOCOL } from '../../src/protocol/config.js';
import type { RunRecord } from '../../src/protocol/run-folder.js';
import { sha256Hex } from '../../src/util/hash.js';

/** run.json content for `modelPath` with a head of `kind` and the given threshold. */
export async function runRecordFor(modelPath: string, name: string, kind: HeadKind = 'linear', threshold = 0.5): Promise<RunRecord> {
  return {
    format: 'deep-covid-run', version: 1, id: name, createdAt: new Date(0).toISOString(),
    config: { ...PAPER_PROTOCOL, backbone: name },
    backbone: {
      name, file: modelPath, sha256: sha256Hex(await readFile(modelPath)), weights: 'unknown', note: 'test model',
      manifest: completeManifest({ architecture: name, head: { kind, dropout: 0 } }),
    },
    data: { root: '/nowhere', origin: 'folders', hash: 'test', validationBy: 'image', counts: { train: { n: 0, covid: 0 }, trainAugmented: { n: 0, covid: 0 }, val: { n: 0, covid: 0 }, test: null }, failures: [] },
    training: { bestEpoch: 0, bestValLoss: 0, epochs: 0 },
    threshold: { value: threshold, chosenOn: 'validation', targetSensitivity: 0.98, fallback: false },
    timings: {},
  };
}
