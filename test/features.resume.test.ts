// Killing a feature extraction at an arbitrary moment leaves no corrupt cache entry, and the next
// run resumes from what was written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseNpy } from '../src/util/npy.js';
import { DEV_SET, projectRoot, skipNoShared, SYNTHETIC_SQUEEZENET } from './helpers/shared.js';

async function entries(dir: string): Promise<string[]> {
  const out: string[] = [];
  // <model>/<2 hex>/<key>.npy; finished entries only: a write killed mid-way leaves a *.tmp file that is never read as an entry
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    if (e.isDirectory()) out.push(...(await entries(join(dir, e.name))));
    else if (e.name.endsWith('.npy')) out.push(join(dir, e.name));
  }
  return out;
}

function runFeatures(cache: string, killAfterEntries?: number): Promise<{ code: number | null; signal: string | null; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(projectRoot, 'bin', 'deep-covid.js'), 'features', '--data', DEV_SET, '--split', 'test', '--backbone', 'squeezenet1_1', '--model', SYNTHETIC_SQUEEZENET, '--tensor', 'pooled', '--cache', cache, '-q'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    let timer: NodeJS.Timeout | undefined;
    if (killAfterEntries) {
      timer = setInterval(async () => {
        if ((await entries(join(cache, 'features'))).length >= killAfterEntries) child.kill('SIGKILL');
      }, 20);
    }
    child.on('close', (code, signal) => {
      if (timer) clearInterval(timer);
      resolve({ code, signal, stdout });
    });
  });
}

test('a killed extraction leaves only complete entries and the next run resumes', { skip: skipNoShared, timeout: 300_000 }, async () => {
  const cache = await mkdtemp(join(tmpdir(), 'dc-resume-'));
  try {
    const first = await runFeatures(cache, 40);
    assert.equal(first.signal, 'SIGKILL', 'the first run was killed mid-way');
    const written = await entries(join(cache, 'features'));
    assert.ok(written.length >= 40 && written.length < 392, `${written.length} entries after the kill`);
    for (const f of written) {
      const arr = parseNpy(await readFile(f));
      assert.deepEqual(arr.shape, [512]);
    }
    const second = await runFeatures(cache);
    assert.equal(second.code, 0);
    const m = /(\d+) computed, (\d+) from cache, (\d+) failed/.exec(second.stdout);
    assert.ok(m, second.stdout);
    assert.equal(Number(m[2]), written.length, 'every entry of the killed run is reused');
    assert.equal(Number(m[1]) + Number(m[2]), 392);
  } finally {
    await rm(cache, { recursive: true, force: true });
  }
});
