// `pacs listen` (C-STORE SCP) against real DICOM peers: dcmtk's echoscu/storescu push into it and
// the results it forwards arrive in a real Orthanc. Association limits and timeouts are checked
// on an in-process listener.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import dimse from 'dcmjs-dimse';
import { predictFiles } from '../src/tasks/predict.js';
import { CODES, listenDimse, loadPacsModel, readSourceHeader, type PacsEvent } from '../src/pacs/index.js';
import {
  CHEST_DICOM, DICOM_DIR, freePort, readSr, relabelled, runTool, skipNoDcmtk, skipNoOrthanc, startOrthanc, usePacsRun,
} from './helpers/orthanc.js';
import { projectRoot, skipNoShared } from './helpers/shared.js';

const skip = skipNoShared || skipNoOrthanc || skipNoDcmtk;

const pacs = usePacsRun('dc-pacs-dimse-', skip);

test('storescu pushes into pacs listen; the results it forwards by C-STORE arrive in Orthanc, in the source study', { skip }, async () => {
  const orthanc = await startOrthanc();
  const port = await freePort();
  const child = spawn(process.execPath, [join(projectRoot, 'bin', 'deep-covid.js'), 'pacs', 'listen', '--run', pacs.runDir, '--aet', 'DEEPCOVID', '--port', String(port), '--forward', `${orthanc.aet}@127.0.0.1:${orthanc.dicomPort}`, '--no-gate'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  try {
    const deadline = Date.now() + 60_000;
    while (!/listening as DEEPCOVID on port/.test(out) && child.exitCode === null && Date.now() < deadline) await sleep(50);
    assert.match(out, /listening as DEEPCOVID on port \d+/);

    const echo = await runTool('echoscu', ['-aec', 'DEEPCOVID', '127.0.0.1', String(port)]);
    assert.equal(echo.code, 0, `C-ECHO: ${echo.stderr}`);

    const chest = await relabelled(CHEST_DICOM, 11);
    const chestFile = join(pacs.work, 'pushed-chest.dcm');
    await writeFile(chestFile, chest);
    // the chest film as JPEG baseline (as stored), and a C-spine CR (not a chest film) uncompressed
    const push = await runTool('storescu', ['-xy', '-aet', 'MODALITY', '-aec', 'DEEPCOVID', '127.0.0.1', String(port), chestFile, join(DICOM_DIR, 'cr-monochrome1-rescale-window-16x16.dcm')]);
    assert.equal(push.code, 0, `C-STORE: ${push.stderr}`);

    const wrong = await runTool('echoscu', ['-aec', 'SOMEONE', '127.0.0.1', String(port)]);
    assert.notEqual(wrong.code, 0, 'an association called for another AE title is rejected');
    assert.match(wrong.stderr, /Called AE Title Not Recognized/i);

    let srs: Awaited<ReturnType<typeof orthanc.instances>> = [];
    let scs: typeof srs = [];
    while (Date.now() < deadline && (srs.length < 1 || scs.length < 1)) {
      await sleep(200);
      [srs, scs] = [await orthanc.instances('SR'), await orthanc.instances('OT')];
    }
    assert.equal(srs.length, 1, out);
    assert.equal(scs.length, 1, out);
    const src = readSourceHeader(chest, 'x');
    assert.equal(srs[0].tags.StudyInstanceUID, src.studyInstanceUid);
    assert.equal(scs[0].tags.StudyInstanceUID, src.studyInstanceUid);
    const sr = readSr(await orthanc.file(srs[0].id));
    assert.deepEqual([...new Set(sr.images())], [src.sopInstanceUid]);
    const [viaPredict] = await predictFiles({ run: pacs.runDir, files: [chestFile], gate: false });
    assert.ok('probability' in viaPredict);
    assert.ok(Math.abs(sr.num(CODES.probability.CodeValue)! - viaPredict.probability) < 1e-6);

    assert.match(out, /instance [0-9a-f]{16} \(study [0-9a-f]{16}\): P\(COVID\) [\d.]+, .*2 result objects stored at ORTHANC@127\.0\.0\.1/);
    assert.match(out, /skipped, body part CSPINE is not the chest/);
    assert.match(out, /association rejected: ECHOSCU: called AE title "SOMEONE"/);
    for (const secret of [src.sopInstanceUid, src.studyInstanceUid, 'TEST-11']) assert.ok(!out.includes(secret), `log shows ${secret}`);
  } finally {
    child.kill('SIGTERM');
    assert.equal(await exited, 0, out);
    await orthanc.stop();
  }
});

test('association limits: over --max-associations is rejected as transient; a silent connection is dropped', { skip }, async () => {
  const model = await loadPacsModel(pacs.runDir);
  const events: PacsEvent[] = [];
  const listener = await listenDimse({ model, aet: 'DEEPCOVID', port: 0, maxAssociations: 1, associationTimeoutMs: 300, onEvent: (e) => events.push(e) });
  try {
    // hold one association open (C-ECHO, then linger) ...
    const holder = new dimse.Client();
    holder.addRequest(new dimse.requests.CEchoRequest());
    const accepted = new Promise<void>((resolve) => holder.on('associationAccepted', () => resolve()));
    const closed = new Promise<void>((resolve) => holder.on('closed', () => resolve()));
    holder.send('127.0.0.1', listener.port, 'HOLDER', 'DEEPCOVID', { associationLingerTimeout: 3000 });
    await accepted;
    // ... so a second one is over the limit
    const second = await runTool('echoscu', ['-aec', 'DEEPCOVID', '127.0.0.1', String(listener.port)]);
    assert.notEqual(second.code, 0);
    assert.match(second.stderr, /Rejected Transient/i);
    assert.match(second.stderr, /Local Limit Exceeded/i);
    await closed;
    await sleep(100);
    const third = await runTool('echoscu', ['-aec', 'DEEPCOVID', '127.0.0.1', String(listener.port)]);
    assert.equal(third.code, 0, `after the first association ended: ${third.stderr}`);

    // a connection that never asks for an association is closed after the association timeout
    const t0 = Date.now();
    const sock = connect(listener.port, '127.0.0.1');
    sock.on('error', () => {});
    const how = await Promise.race([new Promise<string>((resolve) => sock.on('close', () => resolve('closed'))), sleep(10_000).then(() => 'still open')]);
    sock.destroy();
    assert.equal(how, 'closed');
    const waited = Date.now() - t0;
    assert.ok(waited >= 250, `closed after ${waited} ms`);
    assert.ok(events.some((e) => e.type === 'association' && e.event === 'rejected' && /limit/.test(e.detail)));
  } finally {
    await listener.close();
    await model.close();
  }
});
