// A real Orthanc (Debian's orthanc + orthanc-dicomweb) for PACS tests: started on free loopback
// ports with a temporary configuration and storage folder, stopped and removed afterwards.
// Also makes the DICOM files the tests upload: copies of the shared chest films under new UIDs.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before } from 'node:test';
import dcmjs from 'dcmjs';
import { SHARED } from './shared.js';

export const DICOM_DIR = join(SHARED, 'data', 'dicom');
export const CHEST_DICOM = join(DICOM_DIR, 'rsna-monochrome2-jpeg-baseline.dcm');
/** A CR of the hip: not a chest film. */
export const HIP_DICOM = join(DICOM_DIR, 'ts-jpeg-extended-12bit-cr.dcm');

function which(cmd: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

export const ORTHANC_BIN = ['/usr/sbin/Orthanc', '/usr/bin/Orthanc'].find((p) => existsSync(p)) ?? which('Orthanc');

/** Debian's DICOMweb plugin (path of the orthanc-dicomweb package). */
export const DICOMWEB_PLUGIN = (() => {
  for (const dir of ['/usr/share/orthanc/plugins', '/usr/lib/orthanc']) {
    if (!existsSync(dir)) continue;
    const f = readdirSync(dir).find((n) => n.startsWith('libOrthancDicomWeb.so'));
    if (f) return join(dir, f);
  }
  return null;
})();

export const DCMTK = { storescu: which('storescu'), dsrdump: which('dsrdump'), dcmdump: which('dcmdump') };

/** node:test `skip` for tests needing Orthanc with DICOMweb: false, or the reason. */
export const skipNoOrthanc: string | false = !ORTHANC_BIN
  ? 'Orthanc is not installed (Debian package orthanc; .ci/run installs it)'
  : !DICOMWEB_PLUGIN ? 'the Orthanc DICOMweb plugin is not installed (Debian package orthanc-dicomweb)' : false;

/** node:test `skip` for tests needing dcmtk. */
export const skipNoDcmtk: string | false = DCMTK.storescu && DCMTK.dsrdump && DCMTK.dcmdump ? false : 'dcmtk is not installed (Debian package dcmtk; .ci/run installs it)';

/** A free TCP port on the loopback interface. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** A running Orthanc. */
export interface Orthanc {
  /** REST root, e.g. http://127.0.0.1:PORT */
  http: string;
  /** DICOMweb root. */
  dicomweb: string;
  dicomPort: number;
  aet: string;
  /** GET a REST path, parsed as JSON. */
  get<T = unknown>(path: string): Promise<T>;
  /** Uploads a Part 10 file; returns Orthanc's instance id. */
  upload(bytes: Uint8Array): Promise<string>;
  /** Every instance's tags (DICOM keyword → value), optionally only of one modality. */
  instances(modality?: string): Promise<{ id: string; tags: Record<string, unknown> }[]>;
  /** The Part 10 file of an instance. */
  file(id: string): Promise<Uint8Array>;
  stop(): Promise<void>;
}

/** Starts Orthanc with DICOMweb on free loopback ports; `modalities` are the DICOM peers it knows. */
export async function startOrthanc(opts: { modalities?: Record<string, [string, string, number]>; users?: Record<string, string> } = {}): Promise<Orthanc> {
  if (!ORTHANC_BIN || !DICOMWEB_PLUGIN) throw new Error(String(skipNoOrthanc));
  const dir = await mkdtemp(join(tmpdir(), 'dc-orthanc-'));
  const [httpPort, dicomPort] = [await freePort(), await freePort()];
  const config = {
    Name: 'deep-covid-test',
    StorageDirectory: join(dir, 'db'),
    IndexDirectory: join(dir, 'db'),
    HttpPort: httpPort,
    DicomPort: dicomPort,
    DicomAet: 'ORTHANC',
    RemoteAccessAllowed: false,
    AuthenticationEnabled: !!opts.users,
    RegisteredUsers: opts.users ?? {},
    SaveJobs: false,
    Plugins: [DICOMWEB_PLUGIN],
    DicomWeb: { Enable: true, Root: '/dicom-web/' },
    DicomModalities: opts.modalities ?? {},
    // small and fast: the tests store a few dozen objects
    StorageCompression: false,
    HttpThreadsCount: 8,
  };
  await writeFile(join(dir, 'orthanc.json'), JSON.stringify(config, null, 2));
  const child: ChildProcess = spawn(ORTHANC_BIN, [join(dir, 'orthanc.json')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (d) => (log = (log + d).slice(-4000)));
  const http = `http://127.0.0.1:${httpPort}`;
  const [user, password] = Object.entries(opts.users ?? {})[0] ?? [];
  const auth: Record<string, string> = user ? { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` } : {};
  const fetch = (url: string, init: RequestInit = {}) => globalThis.fetch(url, { ...init, headers: { ...auth, ...(init.headers as Record<string, string> | undefined) } });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`Orthanc exited at start (code ${child.exitCode}): ${log}`);
    try {
      const r = await fetch(`${http}/system`);
      if (r.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`Orthanc did not answer within 30 s: ${log}`);
    }
    await sleep(100);
  }
  const get = async <T,>(path: string): Promise<T> => {
    const r = await fetch(`${http}${path}`);
    if (!r.ok) throw new Error(`Orthanc GET ${path}: HTTP ${r.status}`);
    return (await r.json()) as T;
  };
  return {
    http,
    dicomweb: `${http}/dicom-web`,
    dicomPort,
    aet: 'ORTHANC',
    get,
    async upload(bytes) {
      const r = await fetch(`${http}/instances`, { method: 'POST', body: bytes as Uint8Array<ArrayBuffer> });
      if (!r.ok) throw new Error(`Orthanc upload: HTTP ${r.status} ${await r.text()}`);
      return ((await r.json()) as { ID: string }).ID;
    },
    async instances(modality) {
      const ids = await get<string[]>('/instances');
      const out = [];
      for (const id of ids) {
        const tags = await get<Record<string, unknown>>(`/instances/${id}/simplified-tags`);
        if (!modality || tags.Modality === modality) out.push({ id, tags });
      }
      return out;
    },
    async file(id) {
      const r = await fetch(`${http}/instances/${id}/file`);
      if (!r.ok) throw new Error(`Orthanc file ${id}: HTTP ${r.status}`);
      return new Uint8Array(await r.arrayBuffer());
    },
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await Promise.race([exited, sleep(10_000)]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A copy of a DICOM file with new study, series and SOP instance UIDs (and optionally other
 * attributes changed), so one shared film can stand for several patients' studies.
 */
export async function relabelled(path: string, i: number, changes: Record<string, string> = {}): Promise<Uint8Array> {
  const { DicomMessage, DicomMetaDictionary } = dcmjs.data;
  const buf = await readFile(path);
  const dict = DicomMessage.readFile(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  const root = `2.25.${1000 + i}${Date.now() % 1_000_000}`;
  const set = (keyword: string, value: string) => {
    const tag = DicomMetaDictionary.nameMap[keyword].tag.replace(/[(),]/g, '');
    if (dict.dict[tag]) dict.dict[tag].Value = [value];
    else dict.dict[tag] = { vr: DicomMetaDictionary.nameMap[keyword].vr, Value: [value] };
  };
  set('StudyInstanceUID', `${root}.1`);
  set('SeriesInstanceUID', `${root}.2`);
  set('SOPInstanceUID', `${root}.3`);
  dict.meta['00020003'].Value = [`${root}.3`];
  set('PatientID', `TEST-${i}`);
  for (const [k, v] of Object.entries(changes)) set(k, v);
  return new Uint8Array(dict.write());
}

// ---- PACS test fixtures shared by the test/pacs.*.test.ts files ----

/** Trains the tiny run the PACS tests predict with (a few seconds) into `dir`. */
export async function trainPacsRun(dir: string): Promise<void> {
  const { makeTinyDataset } = await import('./tiny-dataset.js');
  const { trainRun } = await import('../../src/protocol/train-run.js');
  const { FeatureCache } = await import('../../src/features/cache.js');
  const data = await makeTinyDataset({ train: [12, 16], test: [6, 6], perPatient: 2, manifest: true, seed: 5 });
  try {
    await trainRun({ data, out: dir, config: { backbone: 'squeezenet1_1', epochs: 6, augmentFactor: 2, seed: 5 }, cache: new FeatureCache(join(dir, '..', 'cache')) });
  } finally {
    await rm(data, { recursive: true, force: true });
  }
}

/** The folders of {@link usePacsRun}: a temporary work folder and the tiny run inside it. */
export interface PacsRunFolders {
  readonly work: string;
  readonly runDir: string;
}

/**
 * The set-up every PACS test file shares: before its tests, the tiny run is trained into a new
 * temporary folder (`prefix` names it), then `opts.ready` runs (e.g. to load a model); after them
 * `opts.done` runs and the folder is removed. Nothing is done when `skip` says why the tests are
 * skipped. Call at the top level of a test file, once (node:test does not wait for one root
 * `before` hook before starting the next, so a file's set-up goes through `ready`).
 */
export function usePacsRun(prefix: string, skip: string | false, opts: { ready?: (f: PacsRunFolders) => Promise<void>; done?: () => Promise<void> } = {}): PacsRunFolders {
  const folders = { work: '', runDir: '' };
  before(async () => {
    if (skip) return;
    folders.work = await mkdtemp(join(tmpdir(), prefix));
    folders.runDir = join(folders.work, 'run');
    await trainPacsRun(folders.runDir);
    await opts.ready?.(folders);
  });
  after(async () => {
    await opts.done?.();
    if (folders.work) await rm(folders.work, { recursive: true, force: true });
  });
  return folders;
}

const arr = (x: unknown): Record<string, unknown>[] => (Array.isArray(x) ? x : x === undefined ? [] : [x]) as Record<string, unknown>[];

/** A structured report read back: its dataset and its content items by concept code value. */
export interface ReadSr {
  dataset: Record<string, unknown>;
  items(codeValue: string): Record<string, unknown>[];
  /** The exact number of a NUM item (Floating Point Value), null when absent. */
  num(codeValue: string): number | null;
  texts(codeValue: string): string[];
  /** Code values of the CODE items with this concept. */
  codes(codeValue: string): string[];
  /** SOP Instance UIDs referenced by IMAGE items anywhere in the tree. */
  images(): string[];
}

/** Parses an SR Part 10 file with dcmjs. */
export function readSr(bytes: Uint8Array): ReadSr {
  const { DicomMessage, DicomMetaDictionary } = dcmjs.data;
  const dict = DicomMessage.readFile(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const dataset = DicomMetaDictionary.naturalizeDataset(dict.dict) as Record<string, unknown>;
  const all: Record<string, unknown>[] = [];
  const walk = (node: Record<string, unknown>) => {
    for (const c of arr(node.ContentSequence)) {
      all.push(c);
      walk(c);
    }
  };
  walk(dataset);
  const concept = (i: Record<string, unknown>) => String(arr(i.ConceptNameCodeSequence)[0]?.CodeValue ?? '');
  const items = (cv: string) => all.filter((i) => concept(i) === cv);
  return {
    dataset,
    items,
    num(cv) {
      const mv = arr(items(cv)[0]?.MeasuredValueSequence)[0];
      return mv ? Number(mv.FloatingPointValue ?? mv.NumericValue) : null;
    },
    texts: (cv) => items(cv).map((i) => String(i.TextValue)),
    codes: (cv) => items(cv).map((i) => String(arr(i.ConceptCodeSequence)[0]?.CodeValue)),
    images: () => all.filter((i) => i.ValueType === 'IMAGE').map((i) => String(arr(i.ReferencedSOPSequence)[0]?.ReferencedSOPInstanceUID)),
  };
}

/** Runs a dcmtk tool; resolves with its exit code and output (never rejects). */
export function runTool(cmd: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
