// The screening driver's copies: the same bytes under two names are predicted once, also when the
// two names fall in batches that are in flight at the same time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { driveScreen, type BatchExecutor } from '../src/screen/drive.js';
import type { BatchItem, ItemOutcome } from '../src/screen/model.js';
import { ResultsFile } from '../src/screen/results.js';

/** An executor that answers after a delay and records every path it was asked to predict. */
function recordingExecutor(concurrency: number, outcome: (path: string) => ItemOutcome): BatchExecutor & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    concurrency,
    async run(_key: string, items: BatchItem[]) {
      asked.push(...items.map((i) => i.path));
      await new Promise((r) => setTimeout(r, 30));
      return items.map((i) => outcome(i.path));
    },
    async close() {},
  };
}

async function screenFiles(contents: string[], executor: BatchExecutor, batchSize: number) {
  const dir = await mkdtemp(join(tmpdir(), 'dc-drive-'));
  try {
    const inputs = await Promise.all(contents.map(async (c, i) => {
      const path = join(dir, `f${i}.png`);
      await writeFile(path, c);
      return { name: `f${i}.png`, path };
    }));
    const model = { id: 'm'.repeat(64), runId: 'r', runDir: dir, backbone: 'b', threshold: 0.5 };
    const { results, rows } = await ResultsFile.open(join(dir, 'out.csv'), 'csv', model.id);
    try {
      const summary = await driveScreen({ inputs, results, existing: rows, model, executor, batchSize });
      return { summary, opened: await ResultsFile.open(join(dir, 'out.csv'), 'csv', model.id) };
    } finally {
      await results.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('a copy in a batch in flight beside its original waits for its row instead of being predicted again', async () => {
  const exec = recordingExecutor(2, () => ({ probability: 0.7, gate: { verdict: 'passed', reasons: '' } }));
  // batch size 1, two lanes: f0 and f1 (same bytes) are in flight together; so are f2 and f3 within one batch
  const { summary, opened } = await screenFiles(['same', 'same', 'other', 'other'], exec, 1);
  await opened.results.close();
  // one of each pair is predicted (which one depends on which lane hashes first)
  const asked = exec.asked.map((p) => p.split('/').pop()!);
  assert.equal(asked.length, 2, `predicted: ${asked.join(', ')}`);
  assert.equal(asked.filter((f) => f === 'f0.png' || f === 'f1.png').length, 1, `predicted: ${asked.join(', ')}`);
  assert.equal(summary.reused, 2);
  assert.equal(summary.written, 4);
  assert.deepEqual(opened.rows.map((r) => [r.file, r.probability]).sort(), [['f0.png', 0.7], ['f1.png', 0.7], ['f2.png', 0.7], ['f3.png', 0.7]]);
});

test('a copy of a file that got no P(COVID) is predicted itself, not given the error', async () => {
  let calls = 0;
  const exec = recordingExecutor(2, () => (++calls === 1 ? { error: 'f0.png: truncated', kind: 'truncated' } : { probability: 0.2, gate: { verdict: 'passed', reasons: '' } }));
  const { summary, opened } = await screenFiles(['same', 'same'], exec, 1);
  await opened.results.close();
  assert.equal(exec.asked.length, 2, 'both predicted');
  assert.equal(summary.reused, 0);
  assert.deepEqual(opened.rows.map((r) => r.decision).sort(), ['error', 'non']);
});
