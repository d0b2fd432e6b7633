// End to end: the bundled page in headless Debian Chromium (playwright-core) against a real server
// on 127.0.0.1: uploads a dev-set PNG and a DICOM through the file input, checks the shown
// probability against the API's, toggles the heatmap, its scale and the full-image view, checks
// the layout on phone widths (no sideways scrolling, the verdict above the fold), and takes screenshots.
// DEEP_COVID_E2E_RUN=<run dir> serves that run instead of training a tiny one;
// DEEP_COVID_SCREENSHOTS=<dir> keeps the screenshots there (else a temp folder, removed).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { chromium, type Browser, type Page } from 'playwright-core';
import { FeatureCache } from '../src/features/cache.js';
import { trainRun } from '../src/protocol/train-run.js';
import { buildServer, loadModelService, type ApiPrediction, type Predictor } from '../src/server/index.js';
import { mapValueText, predictiveValuesSentence, probabilityText } from '../src/web/wording.js';
import { predictiveValuesAt } from '../src/evaluate/predictive-values.js';
import type { ApiModelCard } from '../src/server/api-types.js';
import { makeDevSubset } from './helpers/tiny-dataset.js';
import { CHROMIUM, DEV_SET, projectRoot, SHARED, skipNoBrowser } from './helpers/shared.js';

const DICOM = join(SHARED, 'data', 'dicom', 'rsna-monochrome2-jpeg-baseline.dcm');
const DEV_PNG = join(DEV_SET, 'test', 'covid', 'figure1-007e4ffdfe.png');
const skip = skipNoBrowser;

let work: string;
let shots: string;
let model: Predictor;
let app: FastifyInstance;
let url: string;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

before(async () => {
  if (skip) return;
  work = await mkdtemp(join(tmpdir(), 'dc-e2e-'));
  shots = process.env.DEEP_COVID_SCREENSHOTS ?? join(work, 'screenshots');
  await mkdir(shots, { recursive: true });
  const web = join(work, 'web');
  const built = spawnSync(process.execPath, [join(projectRoot, 'scripts', 'build-web.mjs'), web], { encoding: 'utf8' });
  assert.equal(built.status, 0, `build-web failed: ${built.stderr}`);
  let runDir = process.env.DEEP_COVID_E2E_RUN;
  if (!runDir) {
    // real chest X-rays: the run's input gate learns from its training images what a chest film looks like
    const data = await makeDevSubset(DEV_SET, 30, 6);
    runDir = join(work, 'run');
    await trainRun({ data, out: runDir, config: { backbone: 'squeezenet1_1', epochs: 6, augmentFactor: 2, seed: 5 }, cache: new FeatureCache(join(work, 'cache')) });
    await rm(data, { recursive: true, force: true });
  }
  model = await loadModelService(runDir);
  app = await buildServer({ model, webRoot: web });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(m.text()); });
});

after(async () => {
  await browser?.close();
  await app?.close();
  await model?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

/** The API's answer for a file, asked for directly (not through the page). */
async function apiPredict(file: string): Promise<ApiPrediction> {
  const form = new FormData();
  form.append('file', new Blob([await readFile(file)]), basename(file));
  const res = await fetch(`${url}api/predict`, { method: 'POST', body: form });
  assert.equal(res.status, 200);
  return (await res.json()) as ApiPrediction;
}

test('the page loads offline with its model card, no script errors and nothing from other origins', { skip }, async () => {
  const requests: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  await page.goto(url);
  await page.getByRole('heading', { name: 'Intended use' }).waitFor();
  assert.match(await page.locator('.model-card').innerText(), /not a diagnostic device/i);
  assert.match(await page.locator('.model-card').innerText(), /Sensitivity/);
  assert.deepEqual(requests.filter((r) => !r.startsWith(url)), [], 'no request leaves the server');
  // keyboard: the file input is reachable with Tab
  let focused = '';
  for (let i = 0; i < 5 && focused !== 'file-input'; i++) {
    await page.keyboard.press('Tab');
    focused = await page.evaluate(() => document.activeElement?.id ?? '');
  }
  assert.equal(focused, 'file-input');
  await page.screenshot({ path: join(shots, '1-empty.png'), fullPage: true });
  assert.deepEqual(pageErrors, []);
});

test('the model card says what P(COVID) is calibrated to, and the prevalence box turns a typed prevalence into PPV and NPV', { skip }, async () => {
  const apiCard = (await (await fetch(`${url}api/model`)).json()) as ApiModelCard;
  const test = apiCard.test!;
  const c = test.operatingPoint.confusion;
  assert.equal(test.prevalence, (c.tp + c.fn) / (c.tp + c.fn + c.tn + c.fp));
  assert.deepEqual(test.predictiveValues!.table.map((r) => r.prevalence), [0.01, 0.05, 0.1, test.prevalence].sort((a, b) => a - b));
  for (const width of [1280, 375]) {
    const p = await browser.newPage({ viewport: { width, height: 900 }, deviceScaleFactor: 1 });
    try {
      await p.goto(url);
      const box = p.getByTestId('prevalence-output');
      await box.waitFor({ state: 'attached' });
      // a folding section of the card (folded on narrow screens): opened as a reader would
      const section = p.locator('details', { has: box });
      if ((await section.getAttribute('open')) === null) await section.locator('summary').click();
      await box.waitFor();
      const note = await p.getByTestId('calibration-note').innerText();
      assert.match(note, new RegExp(`calibrated to the test set's class mix \\(${Math.round(100 * test.prevalence)}% COVID\\)`));
      // computed on the page from the card's counts: the same numbers as the library's
      assert.equal(await box.innerText(), predictiveValuesSentence(predictiveValuesAt(c, 0.05)));
      await p.getByLabel(/prevalence among the patients/).fill('1');
      assert.equal(await box.innerText(), predictiveValuesSentence(predictiveValuesAt(c, 0.01)));
      await p.getByLabel(/prevalence among the patients/).fill('0');
      assert.match(await box.innerText(), /between 0\.1% and 99\.9%/);
      await p.getByLabel(/prevalence among the patients/).fill('1');
      assert.equal(await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth), 0, `no sideways scrolling at ${width} px`);
      await section.scrollIntoViewIfNeeded();
      await p.screenshot({ path: join(shots, `10-prevalence-${width}.png`), fullPage: width === 375 });
    } finally {
      await p.close();
    }
  }
  assert.deepEqual(pageErrors, []);
});

test('a dev-set PNG uploaded through the file input shows the API\'s probability, label and threshold in words', { skip }, async () => {
  const api = await apiPredict(DEV_PNG);
  await page.setInputFiles('#file-input', DEV_PNG);
  const card = page.locator('li.result').first();
  const prob = card.getByTestId('probability');
  await prob.waitFor();
  assert.equal(Number(await prob.getAttribute('data-probability')), api.probability);
  assert.equal(await prob.innerText(), probabilityText(api.probability!));
  assert.equal(await card.getByTestId('label').getAttribute('data-label'), api.label);
  if (api.operatingPoint) {
    // the long explanation is written once, below the results, not in every card
    const c = api.operatingPoint.confusion;
    assert.equal(await page.getByTestId('operating-point').count(), 1);
    assert.match(await page.getByTestId('operating-point').innerText(), new RegExp(`found ${c.tp} of ${c.tp + c.fn} COVID test images .* flagged ${c.fp} of ${c.fp + c.tn} non-COVID`));
    assert.equal(await card.getByTestId('operating-point').count(), 0);
  }
  assert.match(await page.locator('#status').innerText(), /P\(COVID\)/, 'the result is announced in the live region');
  await page.screenshot({ path: join(shots, '2-png-result.png'), fullPage: true });
});

test('the heatmap toggles and its opacity follows the slider', { skip }, async () => {
  const card = page.locator('li.result').first();
  const heat = card.getByTestId('heatmap');
  assert.ok(await heat.isVisible(), 'CAM shown by default');
  assert.match((await heat.getAttribute('src')) ?? '', /^data:image\/png;base64,/);
  await card.getByLabel('Show heatmap').uncheck();
  assert.equal(await heat.isVisible(), false);
  await page.screenshot({ path: join(shots, '3-heatmap-off.png') });
  await card.getByLabel('Show heatmap').check();
  assert.ok(await heat.isVisible());
  const slider = card.getByLabel('Opacity');
  await slider.focus();
  for (let i = 0; i < 4; i++) await page.keyboard.press('ArrowLeft');
  assert.equal(await heat.evaluate((el) => (el as HTMLElement).style.opacity), '0.6');
  await page.screenshot({ path: join(shots, '4-heatmap-60.png') });
});

test('a DICOM uploaded through the file input shows the API\'s probability; no horizontal scrolling on a laptop screen', { skip }, async () => {
  const api = await apiPredict(DICOM);
  await page.setInputFiles('#file-input', DICOM);
  const card = page.locator('li.result').first();
  await card.getByRole('heading', { name: basename(DICOM) }).waitFor();
  const prob = card.getByTestId('probability');
  await prob.waitFor();
  assert.equal(Number(await prob.getAttribute('data-probability')), api.probability);
  assert.equal(await prob.innerText(), probabilityText(api.probability!));
  assert.equal(await page.locator('li.result').count(), 2);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `page is ${overflow}px wider than the window`);
  await page.screenshot({ path: join(shots, '5-dicom.png'), fullPage: true });
  assert.deepEqual(pageErrors, []);
});

test('the colour bar states the scale; the fixed scale and the full image with the crop marked can be chosen', { skip }, async () => {
  const api = await apiPredict(DEV_PNG);
  const cam = api.heatmaps.cam!;
  await page.setInputFiles('#file-input', DEV_PNG);
  const card = page.locator('li.result').first();
  await card.getByTestId('probability').waitFor();
  const heat = card.getByTestId('heatmap');
  const bar = card.locator('.colour-bar');
  assert.equal(await heat.getAttribute('src'), `data:image/png;base64,${cam.heatmapPng}`);
  assert.match(await bar.innerText(), new RegExp(`0[\\s\\S]*${mapValueText(cam.max)} logit[\\s\\S]*own maximum`));
  await card.getByRole('radio', { name: 'Fixed' }).check();
  assert.equal(await heat.getAttribute('src'), `data:image/png;base64,${cam.fixed.heatmapPng}`);
  assert.match(await bar.innerText(), new RegExp(`${mapValueText(cam.fixed.max)} logit[\\s\\S]*Fixed scale`));
  // the picture is labelled as the model's crop, and the full image shows where that crop lies
  assert.match(await card.getByTestId('view-caption').innerText(), /centre 224 x 224 px crop/);
  await card.getByRole('radio', { name: 'Full image' }).check();
  assert.match(await card.getByTestId('view-caption').innerText(), /whole image/);
  assert.match((await card.locator('img.base').getAttribute('src')) ?? '', /^data:image\/jpeg;base64,/);
  const viewer = (await card.getByTestId('viewer').boundingBox())!;
  const outline = (await card.locator('.crop-outline').boundingBox())!;
  const box = api.fullImage.cropBox;
  assert.ok(Math.abs(outline.x - viewer.x - box.left * viewer.width) < 2 && Math.abs(outline.width - box.width * viewer.width) < 2, 'crop outline placed as the API says');
  const hb = (await heat.boundingBox())!;
  assert.ok(Math.abs(hb.x - outline.x) < 1 && Math.abs(hb.width - outline.width) < 1, 'the heatmap covers the crop only');
  await card.screenshot({ path: join(shots, '6-full-image-fixed-scale.png') });
});

for (const width of [320, 375, 414]) {
  test(`at ${width} px wide: no sideways scrolling, and the verdict is on screen without scrolling`, { skip }, async () => {
    const phone = await browser.newPage({ viewport: { width, height: 667 }, deviceScaleFactor: 1 });
    try {
      phone.on('pageerror', (e) => pageErrors.push(String(e)));
      await phone.goto(url);
      await phone.getByRole('heading', { name: 'Intended use' }).waitFor();
      await phone.setInputFiles('#file-input', DEV_PNG);
      const card = phone.locator('li.result').first();
      await card.getByTestId('probability').waitFor();
      const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `page is ${overflow}px wider than the ${width}px window`);
      const verdict = (await card.getByTestId('label').boundingBox())!;
      const scrolled = await phone.evaluate(() => window.scrollY);
      assert.ok(verdict.y >= 0 && verdict.y + verdict.height <= 667, `verdict at y ${verdict.y}..${verdict.y + verdict.height} (scrolled ${scrolled}px)`);
      if (width === 375) assert.equal(scrolled, 0, 'at 375 x 667 the verdict fits above the fold without any scrolling');
      // the picture fits the card; the explanations start folded on a phone
      const viewer = (await card.getByTestId('viewer').boundingBox())!;
      assert.ok(viewer.x >= 0 && viewer.x + viewer.width <= width);
      assert.equal(await phone.locator('#how-to-read').getAttribute('open'), null);
      await phone.screenshot({ path: join(shots, `7-phone-${width}.png`), fullPage: true });
    } finally {
      await phone.close();
    }
  });
}

test('a file that is not an image gets a clear error in its card', { skip }, async () => {
  await page.setInputFiles('#file-input', { name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from('these are notes, not an X-ray\n') });
  const alert = page.locator('li.result').first().getByRole('alert');
  await alert.waitFor();
  assert.match(await alert.innerText(), /not an image/);
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.screenshot({ path: join(shots, '8-error-1280.png') });
});

test('a CT slice is shown as refused: the reason first, no probability, no heatmap', { skip }, async () => {
  const ct = join(SHARED, 'data', 'dicom', 'ts-explicit-vr-le-ct-16bit-signed-rescale.dcm');
  const api = await apiPredict(ct);
  assert.equal(api.gate.verdict, 'refused');
  assert.equal(api.probability, null);
  await page.setInputFiles('#file-input', ct);
  const card = page.locator('li.result').first();
  await card.getByRole('heading', { name: basename(ct) }).waitFor();
  const refusal = card.getByTestId('refused');
  await refusal.waitFor();
  assert.equal(await card.getByTestId('label').getAttribute('data-label'), 'refused');
  assert.match(await refusal.innerText(), /Not assessed[\s\S]*\bCT\b/);
  assert.equal(await card.getByTestId('probability').count(), 0, 'no probability is shown for a refused image');
  assert.equal(await card.locator('img').count(), 0, 'no heatmap or crop is shown for a refused image');
  await page.setViewportSize({ width: 1280, height: 800 });
  await card.screenshot({ path: join(shots, '9-refused-ct-1280.png') });
  const phone = await browser.newPage({ viewport: { width: 375, height: 667 }, deviceScaleFactor: 1 });
  try {
    await phone.goto(url);
    await phone.setInputFiles('#file-input', ct);
    await phone.getByTestId('refused').waitFor();
    assert.equal(await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth), 0, 'no sideways scrolling at 375 px');
    await phone.screenshot({ path: join(shots, '9-refused-ct-375.png'), fullPage: true });
  } finally {
    await phone.close();
  }
});

test('an ensemble\'s card names its members and how they are combined (the card shape test/server.ensemble.test.ts checks)', { skip }, async () => {
  const served = (await (await fetch(`${url}api/model`)).json()) as ApiModelCard;
  const ensembleCard: ApiModelCard = {
    ...served,
    runId: 'ens-1',
    ensemble: {
      combine: 'logit',
      validationAuc: { probability: 0.81, logit: 0.83 },
      members: [
        { runId: 'run-squeeze', backbone: 'squeezenet1_1', weights: 'imagenet', sha256: 'a'.repeat(64) },
        { runId: 'run-mobile', backbone: 'mobilenet_v2', weights: 'imagenet', sha256: 'b'.repeat(64) },
      ],
    },
  };
  const p = await browser.newPage({ viewport: { width: 1366, height: 900 } });
  try {
    await p.route(`${url}api/model`, (route) => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(ensembleCard) }));
    await p.goto(url);
    await p.getByRole('heading', { name: 'Intended use' }).waitFor();
    const text = await p.locator('.model-card').innerText();
    assert.match(text, /Ensemble\s+ens-1/);
    assert.match(text, /squeezenet1_1 \(run run-squeeze, imagenet weights\); mobilenet_v2 \(run run-mobile, imagenet weights\)/);
    assert.match(text, /mean of the members' log-odds/);
  } finally {
    await p.close();
  }
});
