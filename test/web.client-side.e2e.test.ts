// In-browser inference end to end: export-web on a small squeezenet1_1 run (dev-set train images), the exported folder
// served by a plain static server on 127.0.0.1, 20 dev-set images uploaded into headless Debian
// Chromium. Every request is routed: anything but a GET of one of the exported files fails the
// test, so no image bytes can leave the page. The browser's P(COVID), decisions and CAM maps are
// compared with Node's DeepCovidModel on the same files. The per-image time the page measures is
// printed (a diagnostic for BENCHMARKS.md, never asserted).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { FeatureCache } from '../src/features/cache.js';
import { asymmetry, gateFromJSON } from '../src/gate/index.js';
import { DeepCovidModel, isPredicted } from '../src/model/index.js';
import { trainRun } from '../src/protocol/train-run.js';
import { exportWeb } from '../src/server/export-web.js';
import { CLIENT_SIDE_HEADERS, startStaticSite } from '../src/server/static-site.js';
import { CHROMIUM, DEV_SET, projectRoot, SHARED, skipNoBrowser } from './helpers/shared.js';

const skip = skipNoBrowser;

let work: string;
let site: string;
let runDir: string;
let images: string[];

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return (await Promise.all(entries.map((e) => (e.isDirectory() ? listFiles(join(dir, e.name)) : [join(dir, e.name)])))).flat();
}

/** The plainest static server: files by path, no special headers (so WASM runs single-threaded). */
async function plainStaticServer(root: string): Promise<{ server: Server; origin: string; paths: Set<string> }> {
  const paths = new Set((await listFiles(root)).map((f) => '/' + relative(root, f).split(sep).join('/')));
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const file = path === '/' ? '/index.html' : path;
    if (req.method !== 'GET' || !paths.has(file)) return void res.writeHead(404).end();
    const type = file.endsWith('.html') ? 'text/html' : /\.m?js$/.test(file) ? 'text/javascript' : file.endsWith('.wasm') ? 'application/wasm' : file.endsWith('.css') ? 'text/css' : 'application/octet-stream';
    void readFile(join(root, file)).then((b) => res.writeHead(200, { 'content-type': type }).end(b));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  return { server, origin: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`, paths };
}

function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

/**
 * Opens the exported page with every request routed: only GETs of the exported files, without a
 * body, go through; anything else is aborted and listed in `refused`. Waits until the model is loaded.
 */
async function openPage(browser: Browser, origin: string, paths: Set<string>, viewport: { width: number; height: number }) {
  const page = await browser.newPage({ viewport });
  const errors: string[] = [];
  const refused: string[] = [];
  const seen: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.route('**/*', async (route) => {
    const req = route.request();
    const u = new URL(req.url());
    const path = u.pathname === '/' ? '/index.html' : u.pathname;
    seen.push(`${req.method()} ${req.url()}`);
    if (u.origin === origin && req.method() === 'GET' && paths.has(path) && !req.postDataBuffer()) return route.continue();
    refused.push(`${req.method()} ${req.url()}`);
    return route.abort('blockedbyclient');
  });
  await page.goto(`${origin}/`);
  await page.waitForFunction(() => document.body.dataset.state === 'ready' || document.body.dataset.state === 'error', null, { timeout: 60_000 });
  assert.equal(await page.evaluate(() => document.body.dataset.state), 'ready', await page.locator('#status').innerText());
  return { page, errors, refused, seen };
}

/**
 * Serves the export with the plainest static server, opens the page in Chromium, runs `fn` with
 * Node's model of the same run beside it, then checks that the page made no request but GETs of
 * the exported files and logged no error.
 */
async function withPage(fn: (ctx: { page: Page; model: DeepCovidModel; origin: string; seen: string[] }) => Promise<void>): Promise<void> {
  const { server, origin, paths } = await plainStaticServer(site);
  let browser: Browser | undefined;
  await using model = await DeepCovidModel.load(runDir);
  try {
    browser = await launch();
    const { page, errors, refused, seen } = await openPage(browser, origin, paths, { width: 1280, height: 900 });
    await fn({ page, model, origin, seen });
    assert.deepEqual(refused, [], 'requests other than the exported static files');
    assert.ok(!seen.some((s) => !s.startsWith('GET ')), 'only GET requests');
    assert.deepEqual(errors, []);
  } finally {
    await browser?.close();
    server.close();
  }
}

/** Gives the page `files` and waits until each has a result. */
async function upload(page: Page, files: string[]): Promise<void> {
  await page.setInputFiles('#file-input', files);
  await page.waitForFunction((n) => document.querySelectorAll('li.result[data-done]').length === n, files.length, { timeout: 180_000 });
}

before(async () => {
  if (skip) return;
  work = await mkdtemp(join(tmpdir(), 'dc-client-'));
  const web = join(work, 'web');
  const built = spawnSync(process.execPath, [join(projectRoot, 'scripts', 'build-web.mjs'), web], { encoding: 'utf8' });
  assert.equal(built.status, 0, `build-web failed: ${built.stderr}`);
  // a small run on real dev X-rays (16 + 16 training, 4 + 4 test images copied into a temp folder)
  const data = join(work, 'data');
  for (const split of ['train', 'test']) {
    for (const label of ['covid', 'non']) {
      await mkdir(join(data, split, label), { recursive: true });
      const files = (await readdir(join(DEV_SET, 'train', label))).sort();
      for (const f of split === 'train' ? files.slice(0, 16) : files.slice(16, 20)) await copyFile(join(DEV_SET, 'train', label, f), join(data, split, label, f));
    }
  }
  runDir = join(work, 'run');
  await trainRun({ data, out: runDir, config: { backbone: 'squeezenet1_1', epochs: 6, augmentFactor: 2, seed: 5 }, cache: new FeatureCache(join(work, 'cache')) });
  await rm(data, { recursive: true, force: true });
  site = join(work, 'site');
  await exportWeb({ run: runDir, out: site, pageRoot: join(web, 'client') });
  const pick = async (label: string) => (await readdir(join(DEV_SET, 'test', label))).sort().slice(0, 10).map((f) => join(DEV_SET, 'test', label, f));
  images = [...(await pick('covid')), ...(await pick('non'))];
});

after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let ma = 0, mb = 0;
  for (let i = 0; i < n; i++) { ma += a[i] / n; mb += b[i] / n; }
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) ** 2;
    sbb += (b[i] - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

test('export-web writes the page, the verified backbone, head, threshold, card and onnxruntime-web; an existing other folder is refused', { skip }, async () => {
  const cfg = JSON.parse(await readFile(join(site, 'site.json'), 'utf8'));
  const run = JSON.parse(await readFile(join(runDir, 'run.json'), 'utf8'));
  assert.equal(cfg.threshold, run.threshold.value);
  assert.equal(cfg.backbone.sha256, run.backbone.sha256);
  assert.match(cfg.card.intendedUse, /not a diagnostic device/);
  assert.ok(cfg.model.map, 'the feature map is exposed as a graph output');
  assert.deepEqual(JSON.parse(await readFile(join(site, 'head.json'), 'utf8')), JSON.parse(await readFile(join(runDir, 'head.json'), 'utf8')));
  for (const f of ['index.html', 'client.js', 'ort/ort.wasm.min.mjs', 'ort/ort-wasm-simd-threaded.wasm', 'backbone.onnx', 'gate.json', 'codecs/libjpegturbowasm_decode.wasm', 'codecs/charlswasm_decode.wasm', 'codecs/openjpegwasm_decode.wasm', 'codecs/openjphjs.wasm']) assert.ok(existsSync(join(site, f)), f);
  await assert.rejects(exportWeb({ run: runDir, out: join(work, 'web'), pageRoot: join(work, 'web', 'client') }), /not empty and does not hold an earlier web export/);
  // --no-gate is stamped into the site, so the page says so on every result
  const off = await exportWeb({ run: runDir, out: join(work, 'site-no-gate'), pageRoot: join(work, 'web', 'client'), gate: false });
  assert.equal(off.config.gateDisabled, true);
  assert.equal(cfg.gateDisabled, undefined);
});

test('the page bundles Node\'s own gate, DICOM reader and preprocessing modules; only the DICOM runtime has a browser twin', { skip }, async () => {
  const modules = JSON.parse(await readFile(join(work, 'web', 'client-modules.json'), 'utf8')) as string[];
  for (const m of ['src/gate/combine.ts', 'src/gate/header.ts', 'src/gate/image.ts', 'src/gate/ood.ts', 'src/gate/density.ts', 'src/input/dicom/index.ts', 'src/input/dicom/parse.ts', 'src/input/dicom/codecs.ts', 'src/input/dicom/voi.ts', 'src/preprocess/portable.ts', 'src/head/predict.ts', 'src/explain/cam.ts']) {
    assert.ok(modules.includes(m), `${m} is not in the page's bundle`);
  }
  assert.deepEqual(modules.filter((m) => m.includes('.browser.')), ['src/input/dicom/runtime.browser.ts']);
  assert.ok(!modules.includes('src/input/dicom/runtime.ts') && !modules.includes('src/gate/measure-file.ts'), 'a Node-only module is in the bundle');
});

test('in Chromium, 20 dev images: P(COVID) within 0.01 of Node, same decisions, CAM r >= 0.99, and no request but the static files', { skip, timeout: 240_000 }, async () => {
  await withPage(async ({ page, model }) => {
    await upload(page, images);
    const browserResults = await page.$$eval('li.result', (lis) => lis.map((li) => {
      const p = li.querySelector('[data-testid=probability]');
      return {
        file: li.getAttribute('data-file'),
        probability: Number(p?.getAttribute('data-probability')),
        label: p?.getAttribute('data-label'),
        ms: Number(p?.getAttribute('data-ms')),
        cam: JSON.parse(li.getAttribute('data-cam') ?? 'null') as { data: number[] } | null,
      };
    }));
    const node = await model.predict(images);
    let maxDiff = 0, minR = 1;
    for (let i = 0; i < images.length; i++) {
      const n = node[i];
      const b = browserResults[i];
      assert.ok(isPredicted(n), `Node failed on ${images[i]}`);
      assert.ok(b.cam, `the page gave no result for ${b.file}`);
      const diff = Math.abs(b.probability - n.probability);
      maxDiff = Math.max(maxDiff, diff);
      assert.ok(diff <= 0.01, `${b.file}: browser ${b.probability} vs Node ${n.probability}`);
      assert.equal(b.label, n.label, `${b.file}: decision differs (browser ${b.probability}, Node ${n.probability}, threshold ${n.threshold})`);
      const cam = await model.cam(images[i]);
      const r = pearson(b.cam.data, cam.lowres.data);
      minR = Math.min(minR, r);
      assert.ok(r >= 0.99, `${b.file}: CAM correlation ${r}`);
    }
    const ms = browserResults.map((r) => r.ms).sort((a, b) => a - b);
    console.log(`# browser: ${images.length} images, median ${ms[ms.length >> 1].toFixed(0)} ms/image (min ${ms[0].toFixed(0)}, max ${ms[ms.length - 1].toFixed(0)}), one WASM thread; max |dP| ${maxDiff.toExponential(2)}, min CAM r ${minR.toFixed(4)}`);
  });
});

test('serve --client-side\'s static server: cross-origin isolation headers, exported files only, no uploads', { skip }, async () => {
  const { server, port } = await startStaticSite(site, '127.0.0.1', 0);
  try {
    const base = `http://127.0.0.1:${port}`;
    const page = await fetch(`${base}/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /runs in this browser|in this browser/);
    for (const [k, v] of Object.entries(CLIENT_SIDE_HEADERS)) assert.equal(page.headers.get(k), v, k);
    assert.equal((await fetch(`${base}/ort/ort-wasm-simd-threaded.wasm`)).headers.get('content-type'), 'application/wasm');
    assert.equal((await fetch(`${base}/../run.json`)).status, 404);
    assert.equal((await fetch(`${base}/site.json`, { method: 'POST', body: 'x' })).status, 405);
  } finally {
    server.close();
  }
});

/** OOD scores may differ this much (relative) between the page and Node: the resamplers differ by a grey level or two. */
const OOD_TOLERANCE = 0.02;
/** Mirror symmetry may differ this much: the same pixels give the same value; only images over 512 px are resampled by the browser. */
const SYMMETRY_TOLERANCE = 0.01;

test('in Chromium, the input gate and DICOM: the same verdicts, reasons and OOD scores as Node; a refused image has no probability; a CT DICOM is refused by modality', { skip, timeout: 240_000 }, async () => {
  const notCxr = join(SHARED, 'data', 'not-cxr');
  const dicom = join(SHARED, 'data', 'dicom');
  const files = [
    ...images.slice(0, 3), ...images.slice(10, 13),
    join(notCxr, 'ct', 'ct-004.png'), join(notCxr, 'ct', 'ct-005.png'),
    join(notCxr, 'lateral-xray', 'lateral-xray-001.png'), join(notCxr, 'lateral-xray', 'lateral-xray-002.png'),
    join(notCxr, 'photo', 'giraffe.jpg'), join(notCxr, 'photo', 'kite.jpg'),
    // a chest radiograph (JPEG baseline: the libjpeg-turbo WASM codec), a CT uncompressed and a CT in JPEG-LS (the CharLS codec);
    join(dicom, 'rsna-monochrome2-jpeg-baseline.dcm'),
    join(dicom, 'ts-explicit-vr-le-ct-16bit-signed-rescale.dcm'),
    join(dicom, 'ts-jpegls-near-lossless-ct-16bit-signed-rescale.dcm'),
    // a deflated data set (the browser's DecompressionStream) and a JPEG 2000 CR of the leg (OpenJPEG)
    join(dicom, 'ts-deflated-explicit-le-8bit.dcm'),
    join(dicom, 'ts-jpeg2000-lossless-cr-monochrome1-10bit.dcm'),
  ];
  await withPage(async ({ page, model, origin, seen }) => {
    assert.match(await page.locator('[data-testid=gate-status]').innerText(), /same input gate/);
    assert.doesNotMatch(await page.locator('body').innerText(), /not apply the gate/);
    await upload(page, files);
    const got = await page.$$eval('li.result', (lis) => lis.map((li) => ({
      file: li.getAttribute('data-file'),
      verdict: li.getAttribute('data-verdict'),
      reasons: (li.getAttribute('data-reasons') ?? '').split(' ').filter(Boolean).sort(),
      score: li.hasAttribute('data-ood-score') ? Number(li.getAttribute('data-ood-score')) : null,
      evidence: li.hasAttribute('data-ood-evidence') ? Number(li.getAttribute('data-ood-evidence')) : null,
      symmetry: li.hasAttribute('data-symmetry') ? Number(li.getAttribute('data-symmetry')) : null,
      probability: li.querySelector('[data-testid=probability]')?.getAttribute('data-probability') ?? null,
      heatmap: li.querySelector('canvas') !== null,
      refusal: li.querySelector('[data-testid=refused]')?.textContent ?? null,
      text: li.textContent ?? '',
    })));
    const node = await model.predict(files);
    // the run's gate weighs mirror symmetry (version 3): how far the evidence may move with the tolerances above
    const gate = gateFromJSON(JSON.parse(await readFile(join(runDir, 'gate.json'), 'utf8')), 'gate.json');
    assert.ok(gate.view, 'the run\'s gate.json has no mirror-symmetry calibration');
    const view = gate.view;
    const evidenceTolerance = (sym: number) => Math.log(1 + OOD_TOLERANCE) / gate.calibration.logSd
      + Math.max(...[-1, 1].map((d) => Math.abs(Math.log(asymmetry(sym + d * SYMMETRY_TOLERANCE)) - Math.log(asymmetry(sym))))) / view.asymLogSd;
    let maxRel = 0;
    let borderline = 0;
    for (let i = 0; i < files.length; i++) {
      const n = node[i];
      const b = got[i];
      assert.ok('gate' in n, `Node failed on ${files[i]}`);
      assert.ok(b.verdict, `the page gave no verdict for ${b.file}: ${b.text}`);
      const ood = n.gate.ood;
      if (ood) {
        assert.ok(b.score !== null, `${b.file}: the page has no OOD score`);
        const rel = Math.abs(b.score - ood.score) / ood.score;
        maxRel = Math.max(maxRel, rel);
        assert.ok(rel <= OOD_TOLERANCE, `${b.file}: OOD score ${b.score} in the browser, ${ood.score} in Node`);
      }
      // the mirror symmetry: the same pixels (or the browser's resampling of a large image) give nearly the same value
      assert.ok(b.symmetry !== null && Math.abs(b.symmetry - n.gate.image!.symmetry) <= SYMMETRY_TOLERANCE, `${b.file}: mirror symmetry ${b.symmetry} in the browser, ${n.gate.image!.symmetry} in Node`);
      // the evidence (version-3 gate: score and asymmetry as z-values) moves by what those tolerances allow
      const evidenceSlack = ood?.evidence !== undefined ? evidenceTolerance(ood.symmetry!) : 0;
      if (ood?.evidence !== undefined) assert.ok(b.evidence !== null && Math.abs(b.evidence - ood.evidence) <= evidenceSlack, `${b.file}: evidence ${b.evidence} in the browser, ${ood.evidence} in Node`);
      // a score within the tolerance of a cut-off may fall either side of it; everything else must agree exactly
      const nearCutoff = ood !== null && ([ood.cutoff, ood.farCutoff].some((c) => Math.abs(ood.score - c) <= OOD_TOLERANCE * c)
        || (ood.evidence !== undefined && Math.abs(ood.evidence - ood.evidenceCutoff!) <= evidenceSlack));
      if (nearCutoff) borderline++;
      else {
        assert.equal(b.verdict, n.gate.verdict, `${b.file}: verdict ${b.verdict} in the browser, ${n.gate.verdict} in Node (${JSON.stringify(n.gate.reasons)})`);
        assert.deepEqual(b.reasons, n.gate.reasons.map((r) => r.code).sort(), `${b.file}: gate reasons differ`);
      }
      if (b.verdict === 'refused') {
        assert.equal(b.probability, null, `${b.file}: a refused image shows a probability`);
        assert.equal(b.heatmap, false, `${b.file}: a refused image shows a heatmap`);
        assert.ok(b.refusal, `${b.file}: no refusal box`);
      } else {
        assert.ok(b.probability !== null && b.heatmap, `${b.file}: an allowed image has no probability or heatmap`);
        if (isPredicted(n)) assert.ok(Math.abs(Number(b.probability) - n.probability) <= 0.01, `${b.file}: P(COVID) ${b.probability} in the browser, ${n.probability} in Node`);
      }
    }
    const byName = (f: string) => got.find((g) => g.file === f)!;
    const chest = byName('rsna-monochrome2-jpeg-baseline.dcm');
    assert.notEqual(chest.verdict, 'refused', `the chest DICOM was refused: ${chest.text}`);
    for (const ct of ['ts-explicit-vr-le-ct-16bit-signed-rescale.dcm', 'ts-jpegls-near-lossless-ct-16bit-signed-rescale.dcm']) {
      assert.equal(byName(ct).verdict, 'refused', ct);
      assert.match(byName(ct).refusal ?? '', /CT slice.*modality CT/, `${ct}: the refusal names the modality`);
    }
    for (const photo of ['giraffe.jpg', 'kite.jpg']) assert.equal(byName(photo).verdict, 'refused', photo);
    // the codecs came from the site's own codecs/ folder, and nothing else left the page
    for (const wasm of ['libjpegturbowasm_decode.wasm', 'charlswasm_decode.wasm', 'openjpegwasm_decode.wasm']) assert.ok(seen.includes(`GET ${origin}/codecs/${wasm}`), `${wasm} was not loaded from the site`);
    console.log(`# gate in the browser: ${files.length} files, verdicts ${got.map((g) => g.verdict![0]).join('')}, max relative OOD score difference ${maxRel.toExponential(2)}, ${borderline} within it of a cut-off`);
  });
});
