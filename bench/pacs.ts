/**
 * PACS throughput on loopback, against a real Orthanc (Debian's orthanc + orthanc-dicomweb):
 * - `pacs scan` (QIDO-RS, WADO-RS, predict, SR + SC, STOW-RS): studies per minute and the time per
 *   film, against plain predict of the same bytes in memory (the same model object), so the
 *   difference is what the PACS path adds (search, retrieval, header, building the two result
 *   objects, storing them);
 * - `pacs listen` fed by dcmtk's storescu and forwarding the results to Orthanc by C-STORE: films
 *   per minute from the first push to the last result stored.
 * Usage: DEEP_COVID_DEV=1 npx tsx bench/pacs.ts [--run DIR] [--n 20] [--rounds 3] (DEEP_COVID_DEV=1 finds ../shared/models)
 * Without --run a tiny SqueezeNet run is trained on synthetic images (the time is the backbone's).
 */
import { spawn } from 'node:child_process';
import { cpus, loadavg, totalmem, tmpdir } from 'node:os';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  analyseInstance, buildSecondaryCapture, buildStructuredReport, DicomWebClient, listenDimse, loadPacsModel, readSourceHeader, scanDicomWeb,
} from '../src/pacs/index.js';
import { CHEST_DICOM, freePort, relabelled, skipNoDcmtk, skipNoOrthanc, startOrthanc, trainPacsRun, type Orthanc } from '../test/helpers/orthanc.js';
import { writeBenchSection } from './markdown-section.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

const N = Number(arg('--n') ?? 20);
const ROUNDS = Number(arg('--rounds') ?? 3);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function run(cmd: string, args: string[]): Promise<number | null> {
  return new Promise((resolve) => spawn(cmd, args, { stdio: 'ignore' }).on('close', resolve));
}

async function waitFor(orthanc: Orthanc, modality: string, n: number, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if ((await countModality(orthanc, modality)) >= n) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`fewer than ${n} ${modality} objects in Orthanc after ${timeoutMs} ms`);
}

async function countModality(orthanc: Orthanc, modality: string): Promise<number> {
  const r = await fetch(`${orthanc.http}/tools/find`, { method: 'POST', body: JSON.stringify({ Level: 'Instance', Query: { Modality: modality } }) });
  return ((await r.json()) as string[]).length;
}

async function main(): Promise<void> {
  if (skipNoOrthanc || skipNoDcmtk) throw new Error(String(skipNoOrthanc || skipNoDcmtk));
  const work = await mkdtemp(join(tmpdir(), 'dc-bench-pacs-'));
  try {
    let runDir = arg('--run');
    if (!runDir) {
      runDir = join(work, 'run');
      await trainPacsRun(runDir);
    }
    // gate off: the tiny run's gate would refuse the real films (its training images are synthetic)
    const model = await loadPacsModel(runDir, { gate: arg('--run') ? undefined : false });
    const films: Uint8Array[] = [];
    for (let i = 0; i < N; i++) films.push(await relabelled(CHEST_DICOM, 100 + i));
    // warm-up
    await model.predict({ bytes: films[0], name: 'warm-up' });

    // plain predict of the same bytes, in memory
    const predictMs: number[] = [];
    const buildMs: number[] = [];
    for (const f of films) {
      const t0 = performance.now();
      const p = await model.predict({ bytes: f, name: 'bench' });
      const t1 = performance.now();
      const h = readSourceHeader(f, 'bench');
      buildStructuredReport(h, p, model.info, new Date());
      await buildSecondaryCapture(h, p, model.info, new Date());
      predictMs.push(t1 - t0);
      buildMs.push(performance.now() - t1);
    }
    const analyseMs: number[] = [];
    for (const f of films) {
      const t0 = performance.now();
      await analyseInstance(model, f, 'bench');
      analyseMs.push(performance.now() - t0);
    }

    // DICOMweb: N one-film studies, scanned ROUNDS times (results are replaced, not duplicated)
    const orthanc = await startOrthanc();
    const scanMs: number[] = [];
    let listenMs = NaN;
    let version = '';
    try {
      version = (await orthanc.get<{ Version: string }>('/system')).Version;
      for (const f of films) await orthanc.upload(f);
      const client = new DicomWebClient({ url: orthanc.dicomweb });
      for (let r = 0; r < ROUNDS; r++) {
        const t0 = performance.now();
        const c = await scanDicomWeb({ client, model, since: '19000101' });
        scanMs.push(performance.now() - t0);
        if (c.analysed !== N) throw new Error(`scan analysed ${c.analysed} of ${N}`);
      }
      await waitFor(orthanc, 'SR', N, 1000);
    } finally {
      await orthanc.stop();
    }

    // DIMSE: storescu pushes N films into the listener, which forwards results to a fresh Orthanc
    const target = await startOrthanc();
    try {
      const port = await freePort();
      const listener = await listenDimse({ model, aet: 'DEEPCOVID', port, forward: { host: '127.0.0.1', port: target.dicomPort, aet: target.aet }, maxQueued: N });
      const files: string[] = [];
      for (let i = 0; i < N; i++) {
        files.push(join(work, `push-${i}.dcm`));
        await writeFile(files[i], films[i]);
      }
      const t0 = performance.now();
      const code = await run('storescu', ['-xy', '-aec', 'DEEPCOVID', '127.0.0.1', String(port), ...files]);
      if (code !== 0) throw new Error(`storescu exited with ${code}`);
      await listener.idle();
      await waitFor(target, 'OT', N, 60_000);
      listenMs = performance.now() - t0;
      await listener.close();
    } finally {
      await target.stop();
    }
    await model.close();

    const perScan = median(scanMs);
    const perFilm = perScan / N;
    const plain = median(predictMs);
    const cpu = cpus();
    const body = [
      `Conditions: ${new Date().toISOString().slice(0, 10)}, ${cpu.length} cores (${cpu[0]?.model.trim()}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, Orthanc ${version} with its DICOMweb plugin on loopback, load average ${loadavg()[0].toFixed(1)} at the end (a shared machine: other jobs ran too).`,
      `Model: ${model.info.name} (${model.info.weights} weights). Films: ${N} copies of the 1024 x 1024 JPEG-baseline chest film \`rsna-monochrome2-jpeg-baseline.dcm\` under new UIDs, one study each. \`DEEP_COVID_DEV=1 npx tsx bench/pacs.ts --n ${N} --rounds ${ROUNDS}\`${arg('--run') ? '' : ' (tiny synthetic run, input gate off)'}.`,
      '',
      '| path | films/min (= studies/min) | ms per film (median) |',
      '|---|---:|---:|',
      `| plain predict, bytes in memory (decode, crop, one backbone pass, CAM overlay) | ${(60_000 / plain).toFixed(0)} | ${plain.toFixed(0)} |`,
      `| + results built (SR + captioned SC, no network) | ${(60_000 / (plain + median(buildMs))).toFixed(0)} | ${(plain + median(buildMs)).toFixed(0)} |`,
      `| analyseInstance (header + predict + results) | ${(60_000 / median(analyseMs)).toFixed(0)} | ${median(analyseMs).toFixed(0)} |`,
      `| \`pacs scan\` through Orthanc (QIDO + WADO + analyse + STOW), median of ${ROUNDS} passes | ${(60_000 / perFilm).toFixed(0)} | ${perFilm.toFixed(0)} |`,
      `| \`pacs listen\`: storescu push → results C-STOREd into Orthanc, ${N} films | ${(60_000 * N / listenMs).toFixed(0)} | ${(listenMs / N).toFixed(0)} |`,
      '',
      `Added latency of the DICOMweb path over plain predict: **${(perFilm - plain).toFixed(0)} ms per film** (${(100 * (perFilm - plain) / plain).toFixed(0)}%). Building the two result objects alone takes ${median(buildMs).toFixed(0)} ms (mostly rendering the 640 px captioned RGB image); search, retrieval and store on loopback make the rest. Films are analysed one at a time (one backbone pass already uses both cores). Rows are separate timings on a loaded machine, so they need not add up exactly.`,
    ].join('\n');
    console.log(body);
    await writeBenchSection('pacs', 'PACS throughput (`npx tsx bench/pacs.ts`)', body);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
