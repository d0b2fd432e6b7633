// (The tiny run's gate refuses real films as out of distribution, so these run with --no-gate;
// test/pacs.results.test.ts covers the gate's refusals.)
// `pacs scan` and `pacs watch` against a real Orthanc (DICOMweb plugin) started here on free
// loopback ports: chest films, a hip, a CT and a colour image labelled as a chest CR go in; the
// structured reports and captioned heatmaps that come back are read from Orthanc and checked
// against `predict` on the same files. A watch killed mid-run resumes without doing anything twice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { main } from '../src/cli/main.js';
import { predictFiles } from '../src/tasks/predict.js';
import { CODES, readSourceHeader } from '../src/pacs/index.js';
import {
  CHEST_DICOM, DCMTK, DICOM_DIR, HIP_DICOM, readSr, relabelled, runTool, skipNoDcmtk, skipNoOrthanc, startOrthanc, usePacsRun, type Orthanc,
} from './helpers/orthanc.js';
import { projectRoot, skipNoShared } from './helpers/shared.js';

const skip = skipNoShared || skipNoOrthanc || skipNoDcmtk;
const USER = { deepcovid: 'not-a-real-secret' };

const pacs = usePacsRun('dc-pacs-dicomweb-', skip);

/** Runs the CLI in this process with the Orthanc credentials in the environment. */
async function cli(args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  process.env.DEEP_COVID_DICOMWEB_USER = 'deepcovid';
  process.env.DEEP_COVID_DICOMWEB_PASSWORD = USER.deepcovid;
  try {
    const code = await main(['node', 'deep-covid', ...args], { out: (s) => out.push(s), err: (s) => err.push(s) });
    return { code, out, err };
  } finally {
    delete process.env.DEEP_COVID_DICOMWEB_USER;
    delete process.env.DEEP_COVID_DICOMWEB_PASSWORD;
  }
}

test('pacs scan stores a report per chest film (and a heatmap per scored one) into its study, with predict\'s P(COVID)', { skip }, async () => {
  const orthanc = await startOrthanc({ users: USER });
  try {
    const sameStudy = '2.25.4242424242.1';
    const chest: Record<string, Uint8Array> = {
      original: await readFile(CHEST_DICOM),
      second: await relabelled(CHEST_DICOM, 1),
      twoInStudyA: await relabelled(CHEST_DICOM, 2, { StudyInstanceUID: sameStudy }),
      twoInStudyB: await relabelled(join(DICOM_DIR, 'fake-monochrome1.dcm'), 3, { StudyInstanceUID: sameStudy }),
    };
    const refused = await relabelled(join(DICOM_DIR, 'bad-color-rgb.dcm'), 4, { Modality: 'CR', BodyPartExamined: 'CHEST' });
    for (const b of [...Object.values(chest), refused, await readFile(HIP_DICOM), await readFile(join(DICOM_DIR, 'ts-explicit-vr-le-ct-16bit-signed-rescale.dcm'))]) await orthanc.upload(b);

    const r = await cli(['pacs', 'scan', '--run', pacs.runDir, '--dicomweb', orthanc.dicomweb, '--since', '1900-01-01', '--page-size', '2', '--no-gate']);
    assert.equal(r.code, 0, r.err.join('\n'));
    const studyLines = r.out.filter((l) => / study [0-9a-f]{16}: /.test(l));
    assert.equal(studyLines.length, 5, r.out.join('\n')); // original, second, the two-film study, colour, hip (the CT is no CR/DX)
    assert.ok(studyLines.some((l) => /2 analysed/.test(l)), 'the two-film study on one line');
    assert.ok(studyLines.some((l) => /1 skipped/.test(l)), 'the hip');
    assert.match(r.out.find((l) => / pass: /.test(l)) ?? '', /6 CR\/DX instances: 5 analysed .*1 refused by the input gate.*1 skipped/);
    assert.ok(r.err.some((l) => /refused by the input gate: the image could not be used/.test(l)), r.err.join('\n'));
    // no patient identifier and no UID in any log line
    const log = [...r.out, ...r.err].join('\n');
    for (const b of [...Object.values(chest), refused]) {
      const h = readSourceHeader(b, 'x');
      for (const secret of [h.sopInstanceUid, h.studyInstanceUid, String(h.patientStudy.PatientID)]) assert.ok(!log.includes(secret), `log shows ${secret}`);
    }

    const srs = await orthanc.instances('SR');
    const scs = await orthanc.instances('OT');
    assert.equal(srs.length, 5, 'a report per analysed film (4 scored + 1 refused)');
    assert.equal(scs.length, 4, 'a heatmap per scored film');
    // predict on the very files that were uploaded
    const files: Record<string, string> = {};
    for (const [k, b] of Object.entries(chest)) {
      files[k] = join(pacs.work, `${k}.dcm`);
      await writeFile(files[k], b);
    }
    const preds = await predictFiles({ run: pacs.runDir, files: Object.values(files), gate: false });
    const bySop = new Map<string, { study: string; p: number }>();
    Object.values(chest).forEach((b, i) => {
      const h = readSourceHeader(b, 'x');
      const p = preds[i];
      assert.ok('probability' in p);
      bySop.set(h.sopInstanceUid, { study: h.studyInstanceUid, p: p.probability });
    });
    const refusedSop = readSourceHeader(refused, 'x').sopInstanceUid;
    const seen = new Set<string>();
    for (const { id, tags } of srs) {
      const sr = readSr(await orthanc.file(id));
      const [ref] = new Set(sr.images());
      seen.add(ref);
      if (ref === refusedSop) {
        assert.equal(sr.num(CODES.probability.CodeValue), null);
        assert.deepEqual(sr.codes(CODES.gate.CodeValue), [CODES.gateRefused.CodeValue]);
        continue;
      }
      const want = bySop.get(ref);
      assert.ok(want, `the report references an uploaded chest film (${ref})`);
      assert.equal(tags.StudyInstanceUID, want.study, 'filed in the source study');
      const p = sr.num(CODES.probability.CodeValue)!;
      assert.ok(Math.abs(p - want.p) < 1e-6, `P(COVID) ${p} in the report vs ${want.p} from predict`);
    }
    assert.equal(seen.size, 5);
    // the two films of one study share the result series; the fake MONOCHROME1 film scores differently
    const studyA = srs.filter((s) => s.tags.StudyInstanceUID === sameStudy);
    assert.equal(studyA.length, 2);
    assert.equal(studyA[0].tags.SeriesInstanceUID, studyA[1].tags.SeriesInstanceUID);
    // what Orthanc hands back still passes dcmtk
    const srFile = join(pacs.work, 'from-orthanc.sr.dcm');
    await writeFile(srFile, await orthanc.file(srs[0].id));
    const dump = await runTool(DCMTK.dsrdump!, [srFile]);
    assert.equal(dump.code, 0, dump.stderr);
    const scFile = join(pacs.work, 'from-orthanc.sc.dcm');
    await writeFile(scFile, await orthanc.file(scs[0].id));
    const scDump = await runTool(DCMTK.dcmdump!, ['+P', '0008,1155', scFile]);
    assert.equal(scDump.code, 0, scDump.stderr);
    assert.ok([...bySop.keys()].some((u) => scDump.stdout.includes(u)), 'the heatmap references its source');

    // a second scan stores the same objects again: Orthanc keeps one of each
    const again = await cli(['pacs', 'scan', '--run', pacs.runDir, '--dicomweb', orthanc.dicomweb, '--since', '19000101', '--study', sameStudy, '--no-gate']);
    assert.equal(again.code, 0, again.err.join('\n'));
    assert.equal(again.out.filter((l) => / study [0-9a-f]{16}: /.test(l)).length, 1, '--study limits the scan');
    assert.equal((await orthanc.instances('SR')).length, 5);
    assert.equal((await orthanc.instances('OT')).length, 4);

    // without credentials Orthanc says 401 and the message says what to check
    const denied = await main(['node', 'deep-covid', 'pacs', 'scan', '--run', pacs.runDir, '--dicomweb', orthanc.dicomweb], { out: () => {}, err: (s) => r.err.push(`DENIED ${s}`) });
    assert.equal(denied, 1);
    assert.ok(r.err.some((l) => /DENIED .*HTTP 401.*credentials/.test(l)), r.err.join('\n'));
  } finally {
    await orthanc.stop();
  }
});

/** Starts `pacs watch` as its own process. */
function startWatch(url: string, state: string, extra: string[] = []) {
  const child = spawn(process.execPath, [join(projectRoot, 'bin', 'deep-covid.js'), 'pacs', 'watch', '--run', pacs.runDir, '--dicomweb', url, '--state', state, '--since', '1900-01-01', '--interval', '0.2', '--no-gate', ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, DEEP_COVID_DICOMWEB_USER: 'deepcovid', DEEP_COVID_DICOMWEB_PASSWORD: USER.deepcovid },
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const done = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  return { child, done, output: () => out };
}

async function doneCount(state: string): Promise<number> {
  if (!existsSync(state)) return 0;
  try {
    return Object.keys((JSON.parse(await readFile(state, 'utf8')) as { done: object }).done).length;
  } catch {
    return 0; // never half-written (atomic rename), but it may not exist yet
  }
}

test('pacs watch killed mid-run resumes from its state file: every film done once, no duplicate results', { skip }, async () => {
  const orthanc: Orthanc = await startOrthanc({ users: USER });
  const N = 6;
  try {
    const sops: string[] = [];
    for (let i = 0; i < N; i++) {
      const b = await relabelled(CHEST_DICOM, 20 + i);
      sops.push(readSourceHeader(b, 'x').sopInstanceUid);
      await orthanc.upload(b);
    }
    const state = join(pacs.work, 'watch-state.json');
    const first = startWatch(orthanc.dicomweb, state);
    const deadline = Date.now() + 120_000;
    while ((await doneCount(state)) < 2 && Date.now() < deadline && first.child.exitCode === null) await sleep(20);
    first.child.kill('SIGKILL');
    await first.done;
    const k = await doneCount(state);
    assert.ok(k >= 2 && k < N, `killed after ${k} of ${N} films (output: ${first.output()})`);
    const stateText = await readFile(state, 'utf8');
    for (const u of sops) assert.ok(!stateText.includes(u), 'the state holds no UID');

    const second = startWatch(orthanc.dicomweb, state, ['--passes', '1']);
    const end = await second.done;
    assert.equal(end.code, 0, second.output());
    const pass = /pass: 6 studies, 6 CR\/DX instances: (\d+) analysed.*?(\d+) already done/.exec(second.output());
    assert.ok(pass, second.output());
    assert.equal(Number(pass[1]), N - k, 'the restart analyses only what was not done');
    assert.equal(Number(pass[2]), k);
    assert.equal(await doneCount(state), N);

    const srs = await orthanc.instances('SR');
    const scs = await orthanc.instances('OT');
    assert.equal(srs.length, N, 'one report per film');
    assert.equal(scs.length, N, 'one heatmap per film');
    const refs = new Set<string>();
    for (const s of srs) for (const u of readSr(await orthanc.file(s.id)).images()) refs.add(u);
    assert.deepEqual([...refs].sort(), [...sops].sort());
  } finally {
    await orthanc.stop();
  }
});
