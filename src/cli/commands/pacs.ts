import type { Command } from 'commander';
import { PacsError, UsageError } from '../../errors.js';
import {
  DicomWebClient, describeCounts, listenDimse, loadPacsModel, scanDicomWeb, studyDate, watchDicomWeb,
  type DicomPeer, type DicomWebAuth, type PacsEvent, type PacsModel,
} from '../../pacs/index.js';
import { addRuntimeOptions, backboneOptions, positiveInt, wholeNumber, type RuntimeOptions } from '../common.js';

type IO = { out: (s: string) => void; err: (s: string) => void };

interface PacsModelCliOptions extends RuntimeOptions {
  run: string;
  model?: string;
  gate: boolean;
}

interface DicomWebCliOptions extends PacsModelCliOptions {
  dicomweb: string;
  since?: string;
  timeout: string;
  pageSize: string;
}

interface ListenCliOptions extends PacsModelCliOptions {
  aet: string;
  port: string;
  host: string;
  forward?: string;
  allowAet?: string;
  maxAssociations: string;
  associationTimeout: string;
  pduTimeout: string;
  maxObjectMb: string;
  queue: string;
}

/** Credentials from the environment (never from the command line, where other users could read them). */
export function authFromEnv(env: NodeJS.ProcessEnv = process.env): DicomWebAuth | undefined {
  if (env.DEEP_COVID_DICOMWEB_TOKEN) return { bearer: env.DEEP_COVID_DICOMWEB_TOKEN };
  if (env.DEEP_COVID_DICOMWEB_USER) return { username: env.DEEP_COVID_DICOMWEB_USER, password: env.DEEP_COVID_DICOMWEB_PASSWORD ?? '' };
  return undefined;
}

/** Parses AET@HOST:PORT. */
export function parsePeer(v: string, name: string): DicomPeer {
  const m = /^([^@]{1,16})@(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(v.trim());
  if (!m || Number(m[3]) < 1 || Number(m[3]) > 65535) throw new UsageError(`${name} must be AET@HOST:PORT (e.g. ORTHANC@pacs.example:4242), got "${v}"`);
  return { aet: m[1], host: m[2].replace(/^\[|\]$/g, ''), port: Number(m[3]) };
}

const stamp = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

/** One log line per event; opaque references only, no patient identifier or UID. */
export function logEvent(e: PacsEvent, io: IO, forwardTo?: string): void {
  switch (e.type) {
    case 'study':
      io.out(`${stamp()} study ${e.studyRef}: ${describeCounts(e.counts)} (${(e.ms / 1000).toFixed(1)} s)`);
      break;
    case 'pass':
      io.out(`${stamp()} pass: ${e.studies} studies, ${e.counts.instances} CR/DX instances: ${describeCounts(e.counts)} (${(e.ms / 1000).toFixed(1)} s)`);
      break;
    case 'instance': {
      const o = e.outcome;
      if (o.status === 'failed') io.err(`${stamp()} error: instance ${o.ref}${o.studyRef ? ` (study ${o.studyRef})` : ''}: ${o.error}`);
      else if (forwardTo !== undefined) {
        // the listener has no study to summarise: one line per received object
        if (o.status === 'skipped') io.out(`${stamp()} instance ${o.ref} (study ${o.studyRef}): skipped, ${o.reason}`);
        else {
          const s = o.prediction.score;
          const what = s ? `P(COVID) ${s.probability.toFixed(3)}, ${s.label === 'covid' ? 'COVID-19 positive' : 'not COVID-19'} at ${s.threshold.toFixed(3)}` : `refused by the input gate: ${o.prediction.gate.reasons.join('; ')}`;
          io.out(`${stamp()} instance ${o.ref} (study ${o.studyRef}): ${what}; ${forwardTo ? `${e.stored} result objects stored at ${forwardTo}` : 'results not forwarded (no --forward)'}`);
        }
      } else if (o.status === 'analysed' && o.prediction.gate.status === 'refused') {
        io.err(`${stamp()} instance ${o.ref} (study ${o.studyRef}): refused by the input gate: ${o.prediction.gate.reasons.join('; ')}`);
      }
      if (o.status === 'analysed') for (const n of o.notes) io.err(`${stamp()} warning: ${n}`);
      break;
    }
    case 'error':
      io.err(`${stamp()} error: ${e.studyRef ? `study ${e.studyRef}: ` : ''}${e.ref ? `instance ${e.ref}: ` : ''}${e.message}`);
      break;
    case 'association':
      if (e.event === 'rejected') io.err(`${stamp()} association rejected: ${e.detail}`);
      break;
    case 'listening':
      io.out(`${stamp()} listening as ${e.aet} on port ${e.port}`);
      break;
  }
}

async function withModel<T>(o: PacsModelCliOptions, io: IO, fn: (model: PacsModel) => Promise<T>): Promise<T> {
  const model = await loadPacsModel(o.run, { runtime: backboneOptions(o), modelPath: o.model, gate: o.gate });
  io.err(`deep-covid ${model.info.version}: ${model.info.name}. Research software, not a diagnostic device.`);
  if (model.info.warning) io.err(`warning: ${model.info.warning}`);
  if (!o.gate) io.err('warning: the input gate is off (--no-gate): nothing is refused, whatever it is; every result says so');
  try {
    return await fn(model);
  } finally {
    await model.close();
  }
}

function client(o: DicomWebCliOptions): DicomWebClient {
  return new DicomWebClient({ url: o.dicomweb, auth: authFromEnv(), timeoutMs: 1000 * positiveInt(o.timeout, '--timeout'), pageSize: positiveInt(o.pageSize, '--page-size') });
}

/** Runs `fn` with a signal that Ctrl-C / SIGTERM abort. */
async function untilStopped(fn: (signal: AbortSignal) => Promise<void>): Promise<void> {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await fn(stop.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function addDicomWebOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--run <dir>', 'run folder written by train')
    .requiredOption('--dicomweb <url>', 'DICOMweb service root, e.g. http://127.0.0.1:8042/dicom-web')
    .option('--since <date>', 'only studies on or after this date (YYYY-MM-DD)')
    .option('--timeout <s>', 'seconds per DICOMweb request', '60')
    .option('--page-size <n>', 'QIDO-RS results per page', '100')
    .option('--model <file>', 'the backbone ONNX file, if it moved since training')
    .option('--no-gate', NO_GATE);
}

const NO_GATE = 'research use: the input gate refuses nothing (every result then says so, and what would have been refused)';

const AUTH_HELP = `
Credentials come from the environment: DEEP_COVID_DICOMWEB_TOKEN (bearer token), or
DEEP_COVID_DICOMWEB_USER and DEEP_COVID_DICOMWEB_PASSWORD (HTTP basic).`;

/** Registers `pacs scan|watch|listen`. */
export function registerPacs(program: Command, io: IO): void {
  const pacs = program.command('pacs').description('read chest films from a PACS (DICOMweb or DICOM network) and store the results back as DICOM (structured report + captioned heatmap)');

  const scan = addDicomWebOptions(pacs.command('scan').description('one pass: find CR/DX chest films (QIDO-RS), fetch (WADO-RS), predict, store results in each study (STOW-RS)'))
    .option('--study <uid>', 'only this study (Study Instance UID)');
  addRuntimeOptions(scan).addHelpText('after', `${AUTH_HELP}
Prints one line per study (opaque study references, never patient identifiers or UIDs).
Examples:
  deep-covid pacs scan --run runs/squeezenet --dicomweb http://127.0.0.1:8042/dicom-web --since 2024-05-01
  deep-covid pacs scan --run runs/squeezenet --dicomweb http://127.0.0.1:8042/dicom-web --study 1.2.3.4`);
  scan.action(async (o: DicomWebCliOptions & { study?: string }) => {
    if (o.since) studyDate(o.since);
    const c = client(o);
    const counts = await withModel(o, io, (model) => scanDicomWeb({ client: c, model, since: o.since, study: o.study, onEvent: (e) => logEvent(e, io), maxPixels: positiveInt(o.maxPixels, '--max-pixels') }));
    if (counts.failed > 0 && counts.analysed === 0) process.exitCode = 1;
  });

  const watch = addDicomWebOptions(pacs.command('watch').description('scan again and again for new chest films; resumable: a state file remembers what is done'))
    .requiredOption('--state <file>', 'state file (JSON, created when absent; holds hashes of instance UIDs only)')
    .option('--interval <s>', 'seconds between passes', '30')
    .option('--passes <n>', 'stop after this many passes (default: run until stopped)');
  addRuntimeOptions(watch).addHelpText('after', `${AUTH_HELP}
Without --since, the first start searches studies from the day before; later starts keep that bound.
Stop with Ctrl-C; a restart with the same --state carries on without analysing anything twice.
Example:
  deep-covid pacs watch --run runs/squeezenet --dicomweb http://127.0.0.1:8042/dicom-web --state pacs-watch.json`);
  watch.action(async (o: DicomWebCliOptions & { state: string; interval: string; passes?: string }) => {
    if (o.since) studyDate(o.since);
    const c = client(o);
    const intervalMs = 1000 * Number(o.interval);
    if (!Number.isFinite(intervalMs) || intervalMs < 0) throw new UsageError(`--interval must be a number of seconds ≥ 0, got "${o.interval}"`);
    await withModel(o, io, (model) => untilStopped((signal) => watchDicomWeb({
      client: c, model, since: o.since, statePath: o.state, intervalMs, signal,
      passes: o.passes === undefined ? undefined : positiveInt(o.passes, '--passes'),
      onEvent: (e) => logEvent(e, io), maxPixels: positiveInt(o.maxPixels, '--max-pixels'),
    })));
  });

  const listen = pacs.command('listen').description('DICOM listener (C-STORE SCP, answers C-ECHO): analyses pushed chest films, optionally C-STOREs the results to a PACS')
    .requiredOption('--run <dir>', 'run folder written by train')
    .option('--aet <title>', 'our AE title (associations called for another title are rejected)', 'DEEPCOVID')
    .option('--port <n>', 'TCP port (0 = any free port)', '11112')
    .option('--host <addr>', 'address to listen on; the default serves this computer only (0.0.0.0 = every interface)', '127.0.0.1')
    .option('--forward <aet@host:port>', 'C-STORE the results to this AE, e.g. ORTHANC@127.0.0.1:4242')
    .option('--allow-aet <titles>', 'comma-separated calling AE titles allowed to send (default: any)')
    .option('--max-associations <n>', 'associations at once; more are rejected (transient)', '4')
    .option('--association-timeout <s>', 'seconds a new connection has to ask for an association', '30')
    .option('--pdu-timeout <s>', 'seconds of silence before an association is dropped', '60')
    .option('--max-object-mb <n>', 'largest object accepted, in MiB', '256')
    .option('--queue <n>', 'objects waiting for analysis; more are refused with "out of resources" (the sender retries)', '16')
    .option('--model <file>', 'the backbone ONNX file, if it moved since training')
    .option('--no-gate', NO_GATE);
  addRuntimeOptions(listen).addHelpText('after', `
Accepts CR, DX and Secondary Capture images in any transfer syntax deep-covid reads. Objects
stay in memory only. Stop with Ctrl-C (the queue is finished first).
Examples:
  deep-covid pacs listen --run runs/squeezenet --aet DEEPCOVID --port 11112 --forward ORTHANC@127.0.0.1:4242
  storescu -aec DEEPCOVID 127.0.0.1 11112 chest.dcm        # dcmtk, to try it`);
  listen.action(async (o: ListenCliOptions) => {
    const port = wholeNumber(o.port, '--port');
    if (port > 65535) throw new UsageError(`--port must be at most 65535, got ${port}`);
    const forward = o.forward ? parsePeer(o.forward, '--forward') : undefined;
    const mb = Number(o.maxObjectMb);
    if (!Number.isFinite(mb) || mb <= 0) throw new UsageError(`--max-object-mb must be a positive number, got "${o.maxObjectMb}"`);
    const forwardTo = forward ? `${forward.aet}@${forward.host}:${forward.port}` : '';
    await withModel(o, io, (model) => untilStopped(async (signal) => {
      let listener;
      try {
        listener = await listenDimse({
          model, aet: o.aet, port, host: o.host, forward,
          allowCallingAets: o.allowAet ? o.allowAet.split(',').map((s) => s.trim()).filter(Boolean) : undefined,
          maxAssociations: positiveInt(o.maxAssociations, '--max-associations'),
          associationTimeoutMs: 1000 * positiveInt(o.associationTimeout, '--association-timeout'),
          pduTimeoutMs: 1000 * positiveInt(o.pduTimeout, '--pdu-timeout'),
          maxObjectBytes: Math.round(mb * 2 ** 20),
          maxQueued: positiveInt(o.queue, '--queue'),
          maxPixels: positiveInt(o.maxPixels, '--max-pixels'),
          onEvent: (e) => logEvent(e, io, forwardTo),
        });
      } catch (err) {
        if (err instanceof PacsError && /AE title/.test(err.message)) throw new UsageError(`--aet: ${err.message}`);
        throw err;
      }
      if (!['127.0.0.1', 'localhost', '::1'].includes(o.host)) io.err(`warning: listening on ${o.host}: any DICOM node that can reach it may send images${o.allowAet ? '' : ' (restrict with --allow-aet)'}`);
      await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
      await listener.close();
    }));
  });
}
