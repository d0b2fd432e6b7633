// What a person reads from the command line: npm prints no warnings for the project, unknown
// options are named first, folders are predicted with --recursive, failed inputs are reported
// once and not counted as work, cached work is said once, a missing CUDA gives one plain warning,
// and `deep-covid cache` shows and clears the feature cache. Commands run in child processes
// (from the TypeScript sources, so no build is needed) or through `main`.
import { after, before, describe, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main, type CliIO } from '../src/cli/main.js';
import { progressBars } from '../src/cli/progress-bars.js';
import { cacheUsage, FeatureCache } from '../src/features/cache.js';
import { trainRun } from '../src/protocol/train-run.js';
import type { ProgressEvent } from '../src/util/progress.js';
import { makeTinyDataset } from './helpers/tiny-dataset.js';
import sharp from 'sharp';
import { panelSize } from '../src/explain/render.js';
import { loadReportRun, writeRunReport } from '../src/report/index.js';
import { FIG14_PANEL, writeFig14Panel } from '../src/report/run-explanations.js';
import { projectRoot, skipNoShared } from './helpers/shared.js';

/** An io that records what the CLI prints. */
function capture(): CliIO & { outText: () => string; errText: () => string } {
  const out: string[] = [];
  const err: string[] = [];
  return { out: (s) => out.push(s), err: (s) => err.push(s), outText: () => out.join('\n'), errText: () => err.join('\n') };
}

/** Runs the CLI from the sources in a child process; stderr is a pipe (not a TTY), so progress is plain lines. */
function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const script = `const { main } = await import(${JSON.stringify(join(projectRoot, 'src', 'cli', 'main.ts'))}); process.exitCode = await main(['node', 'deep-covid', ...process.argv.slice(1)]);`;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, ...args], { cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('npm: no warning for the project config, and every locked package supports Node 20.19', () => {
  const npx = spawnSync('npx', ['--no-install', 'deep-covid', '--version'], { cwd: projectRoot, encoding: 'utf8' });
  if (npx.error) return; // npm is not on PATH here: nothing to check
  assert.equal(npx.status, 0, npx.stderr);
  assert.equal(npx.stdout.trim(), '0.1.0');
  assert.doesNotMatch(npx.stderr, /npm warn/i, npx.stderr);
  const lock = JSON.parse(readFileSync(join(projectRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string; engines?: unknown }> };
  const semver = createRequire(import.meta.url)('semver') as { satisfies: (v: string, range: string) => boolean };
  const engines = (JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node;
  const oldest = engines.replace(/^>=\s*/, '');
  for (const [name, p] of Object.entries(lock.packages)) {
    const e = (p.engines as { node?: string } | undefined)?.node;
    if (typeof e === 'string') assert.ok(semver.satisfies(oldest.split('.').length === 2 ? `${oldest}.0` : oldest, e), `${name}@${p.version} needs node ${e}`);
  }
});

test('an unknown option is named (with the likely one) before a missing required option', async () => {
  const io = capture();
  assert.equal(await main(['node', 'deep-covid', 'predict', '--runs', 'x', 'a.png'], io), 2);
  assert.match(io.errText(), /unknown option '--runs'/);
  assert.match(io.errText(), /Did you mean --run\?/);
  assert.doesNotMatch(io.errText(), /required option/);
  const io2 = capture();
  assert.equal(await main(['node', 'deep-covid', 'dataset', 'build', '--confg', 'x.json'], io2), 2);
  assert.match(io2.errText(), /unknown option '--confg'[\s\S]*--config/);
  // values that look like options are not taken for options; `--` ends them
  const io3 = capture();
  assert.equal(await main(['node', 'deep-covid', 'explain', '--run', 'nowhere', '--out', 'o', '--fill', '-3', 'a.png'], io3), 2);
  assert.doesNotMatch(io3.errText(), /unknown option/);
  // a missing required option is still reported when nothing is misspelt
  const io4 = capture();
  assert.equal(await main(['node', 'deep-covid', 'predict', 'a.png'], io4), 2);
  assert.match(io4.errText(), /required option '--run <dir>' not specified/);
});

test('progress: work served wholly from a cache is one line; rates count from the start of the work', () => {
  const lines: string[] = [];
  const stream = { isTTY: false, write: (s: string) => lines.push(s) } as unknown as NodeJS.WriteStream;
  const draw = progressBars(stream);
  const ev = (phase: ProgressEvent['phase'], done: number, fromCache: number): ProgressEvent => ({ label: 'features', unit: 'img', done, total: 40, phase, fromCache });
  draw(ev('start', 0, 0));
  for (let k = 1; k <= 40; k++) draw(ev('update', k, k));
  draw(ev('end', 40, 40));
  assert.deepEqual(lines, ['features: 40 img from cache\n']);
  lines.length = 0;
  mock.timers.enable({ apis: ['Date'], now: 0 });
  try {
    draw(ev('start', 0, 0));
    mock.timers.tick(10_000);
    draw(ev('update', 20, 0));
    assert.match(lines[0], /20\/40 img \(2\.0 img\/s/, 'the first line\'s rate counts the 10 s the first batch took');
  } finally {
    mock.timers.reset();
  }
});

describe('commands on a trained run', { skip: skipNoShared }, () => {
  let root = '';
  let run = '';
  let img = '';
  let fig14: string | null = 'not made';
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'dc-cli-out-'));
    const data = await makeTinyDataset({ train: [8, 10], test: [4, 4], perPatient: 2, manifest: true });
    run = join(root, 'run');
    await trainRun({ data, out: run, config: { backbone: 'squeezenet1_1', epochs: 3, augmentFactor: 1, seed: 3 }, cache: new FeatureCache(join(root, 'cache', 'features')) });
    // a folder of images: two at the top, one in a subfolder, plus a text file and a hidden file
    const scans = join(root, 'scans');
    await mkdir(join(scans, 'sub'), { recursive: true });
    const png = await readFile(join(data, 'test', 'covid', readdirSync(join(data, 'test', 'covid')).sort()[0]));
    img = join(root, 'one.png');
    await writeFile(img, png);
    // a dataset of three different images for the feature commands
    for (const [k, cls] of ['covid', 'covid', 'non'].entries()) {
      await mkdir(join(root, 'scans-set', 'test', cls), { recursive: true });
      const from = join(data, 'test', cls, readdirSync(join(data, 'test', cls)).sort()[k % 2]);
      await writeFile(join(root, 'scans-set', 'test', cls, `${k}.png`), await readFile(from));
    }
    await writeFile(join(scans, 'b.png'), png);
    await writeFile(join(scans, 'a-no-extension'), png);
    await writeFile(join(scans, 'sub', 'c.dat'), png);
    await writeFile(join(scans, 'notes.txt'), 'not an image');
    await writeFile(join(scans, '.hidden.png'), png);
    // heatmaps for the run report, as the paper's Fig. 14 (needs the test images, so before they go)
    fig14 = await writeFig14Panel(await loadReportRun(run), 3);
    await rm(data, { recursive: true, force: true });
  });
  after(async () => {
    process.exitCode = undefined;
    await rm(root, { recursive: true, force: true });
  });

  test('a run report shows CAM heatmaps of COVID test images on one fixed scale (paper Fig. 14)', async () => {
    assert.equal(fig14, null);
    const panel = await sharp(join(run, 'explanations', FIG14_PANEL)).metadata();
    assert.equal(panel.width, panelSize(3, 224, 224, false).width);
    assert.ok(panel.height! >= panelSize(3, 224, 224, false, true).height);
    const { out } = await writeRunReport(run);
    assert.match(await readFile(join(out, 'report.md'), 'utf8'), /as the paper's Fig\. 14[\s\S]*fixed colour scale/);
  });

  test('predict: a folder is refused with the way to do it; --recursive predicts the images in it, recognised by content', async () => {
    const scans = join(root, 'scans');
    const io = capture();
    assert.equal(await main(['node', 'deep-covid', 'predict', '--run', run, '--cache', join(root, 'cache'), scans], io), 1);
    const refused = JSON.parse(io.outText()) as { file: string; error: string };
    assert.equal(refused.file, scans);
    assert.match(refused.error, /is a folder: pass --recursive/);
    const io2 = capture();
    assert.equal(await main(['node', 'deep-covid', 'predict', '--run', run, '--cache', join(root, 'cache'), '--recursive', scans], io2), 0, io2.errText());
    const lines = io2.outText().split('\n').map((l) => JSON.parse(l) as { file: string; probability?: number });
    assert.deepEqual(lines.map((l) => l.file), [join(scans, 'a-no-extension'), join(scans, 'b.png'), join(scans, 'sub', 'c.dat')]);
    assert.ok(lines.every((l) => typeof l.probability === 'number'));
    assert.equal(lines[0].probability, lines[1].probability, 'the same image, the same answer');
    assert.match(io2.errText(), /3 image\(s\), 1 other file\(s\) skipped/);
  });

  test('explain: a failed input is reported once, by name, and its patches are not counted as work done', async () => {
    const r = await cli(['explain', '--run', run, '--out', join(root, 'exp'), '--method', 'occlusion', '--patch', '112', '--stride', '112', '--cache', join(root, 'cache'), join(root, 'scans'), img]);
    assert.equal(r.code, 0, r.stderr);
    const folderLines = r.stderr.split('\n').filter((l) => l.includes(join(root, 'scans')));
    assert.equal(folderLines.length, 1, r.stderr);
    assert.equal(folderLines[0].split(join(root, 'scans')).length - 1, 1, `the path once: ${folderLines[0]}`);
    const progress = [...r.stderr.matchAll(/explain \(occlusion\): (\d+)\/(\d+) patch/g)].map((m) => [Number(m[1]), Number(m[2])]);
    assert.ok(progress.length > 0, r.stderr);
    // 4 patches per image (2 x 2 positions of 112 px): only the readable image's are done
    assert.ok(progress.every(([done, total]) => done <= 4 && total === 8), JSON.stringify(progress));
    const summary = JSON.parse(await readFile(join(root, 'exp', 'explain.occlusion.json'), 'utf8')) as { unit: string; colourMap: string };
    assert.equal(summary.unit, 'drop in P(COVID)');
    assert.match(summary.colourMap, /own maximum/);
  });

  test('cached features are said once ("N from cache"), without a rate', async () => {
    const cacheRoot = join(root, 'cache2');
    const args = ['features', '--data', join(root, 'scans-set'), '--cache', cacheRoot];
    const first = await cli(args);
    assert.equal(first.code, 0, first.stderr);
    const second = await cli(args);
    assert.equal(second.code, 0, second.stderr);
    const lines = second.stderr.split('\n').filter(Boolean);
    assert.deepEqual(lines.filter((l) => /from cache/.test(l)), ['features squeezenet1_1: 3 img from cache']);
    assert.deepEqual(lines.filter((l) => /img\/s/.test(l)), []);
  });

  test('--device cuda without CUDA: one plain warning, no raw onnxruntime log line', async () => {
    const r = await cli(['predict', '--run', run, '--device', 'cuda', '--cache', join(root, 'cache'), img]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /\[E:onnxruntime|\x1b\[/, r.stderr);
    const warnings = r.stderr.split('\n').filter((l) => /CUDA/.test(l));
    // on a machine with CUDA there is nothing to warn about
    assert.ok(warnings.length <= 1 && warnings.every((l) => /CUDA is not available .*running on the CPU instead/.test(l)), r.stderr);
  });

  test('deep-covid cache: where it is, size per backbone, clear one backbone or all', async () => {
    const cacheRoot = join(root, 'cache3');
    const data = join(root, 'scans-set');
    for (const b of ['squeezenet1_1', 'mobilenet_v2']) {
      const io = capture();
      assert.equal(await main(['node', 'deep-covid', 'features', '--data', data, '--backbone', b, '--cache', cacheRoot, '-q'], io), 0, io.errText());
    }
    // an entry of the earlier flat layout is listed as no longer read
    await mkdir(join(cacheRoot, 'features', 'ab'), { recursive: true });
    await writeFile(join(cacheRoot, 'features', 'ab', `ab${'0'.repeat(62)}.npy`), Buffer.alloc(1000));
    const u = await cacheUsage(join(cacheRoot, 'features'));
    assert.deepEqual(u.models.map((m) => [m.name, m.entries]).sort(), [['mobilenet_v2', 3], ['squeezenet1_1', 3]]);
    const sq = u.models.find((m) => m.name === 'squeezenet1_1')!;
    assert.ok(sq.bytes > 3 * 512 * 13 * 13 * 4, 'feature maps of three images');
    const io = capture();
    assert.equal(await main(['node', 'deep-covid', 'cache', '--cache', cacheRoot], io), 0);
    assert.match(io.outText(), new RegExp(`feature cache: ${join(cacheRoot, 'features').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    assert.match(io.outText(), /squeezenet1_1 +model [0-9a-f]{16} +3 entries/);
    assert.match(io.outText(), /mobilenet_v2 +model [0-9a-f]{16} +3 entries/);
    assert.match(io.outText(), /\(older layout\)[\s\S]*1 entries +1000 bytes/);
    const io2 = capture();
    assert.equal(await main(['node', 'deep-covid', 'cache', 'clear', '--backbone', 'squeezenet1_1', '--cache', cacheRoot], io2), 0);
    assert.match(io2.outText(), /removed 3 entries/);
    assert.deepEqual((await cacheUsage(join(cacheRoot, 'features'))).models.map((m) => m.name), ['mobilenet_v2']);
    const io3 = capture();
    assert.equal(await main(['node', 'deep-covid', 'cache', 'clear', '--backbone', 'resnet50', '--cache', cacheRoot], io3), 1);
    assert.match(io3.errText(), /nothing cached for "resnet50"[\s\S]*mobilenet_v2/);
    const io4 = capture();
    assert.equal(await main(['node', 'deep-covid', 'cache', 'clear', '--cache', cacheRoot], io4), 0);
    assert.match(io4.outText(), /removed 4 entries/);
    const after = await cacheUsage(join(cacheRoot, 'features'));
    assert.equal(after.bytes, 0);
    // a cleared cache fills again: entries are recomputed when needed
    const io5 = capture();
    assert.equal(await main(['node', 'deep-covid', 'features', '--data', data, '--cache', cacheRoot, '-q'], io5), 0);
    assert.match(io5.outText(), /3 computed, 0 from cache/);
  });
});
