/**
 * DICOM listener (C-STORE SCP, C-ECHO answered): modalities or a PACS push chest films; each is
 * queued in memory, answered, analysed in turn, and its results optionally C-STOREd to a
 * destination AE. Associations are limited in number and by timeouts, objects by size, and the
 * queue by length (a full queue answers "out of resources" so the sender retries later).
 */
import { createServer, type Server, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import dimse from 'dcmjs-dimse';
import { PacsError } from '../../errors.js';
import { isSupportedCompressed } from '../../input/dicom/codecs.js';
import { TS_DEFLATED_LE, TS_EXPLICIT_BE, TS_EXPLICIT_LE, TS_IMPLICIT_LE } from '../../input/dicom/parse.js';
import { analyseInstance, uidRef } from '../analyse.js';
import { wrapNetworkDataset } from '../dicom-io.js';
import type { PacsEvent } from '../events.js';
import type { PacsModel } from '../model.js';
import { storeScu, type DicomPeer } from './store-scu.js';

const { Scp, Dataset, responses, constants } = dimse;
type Association = InstanceType<typeof dimse.association.Association>;
type CStoreRequest = InstanceType<typeof dimse.requests.CStoreRequest>;
type CEchoRequest = InstanceType<typeof dimse.requests.CEchoRequest>;
type PresentationContext = InstanceType<typeof dimse.association.PresentationContext>;
type DimseDataset = InstanceType<typeof Dataset>;

// dcmjs-dimse logs every association (with AE titles and addresses) to the console
dimse.log.setLevel('silent');

/** Storage SOP classes accepted: the ones chest films come as. */
export const ACCEPTED_SOP_CLASSES: readonly string[] = Object.freeze([
  '1.2.840.10008.5.1.4.1.1.1', // Computed Radiography Image Storage
  '1.2.840.10008.5.1.4.1.1.1.1', // Digital X-Ray Image Storage - For Presentation
  '1.2.840.10008.5.1.4.1.1.1.1.1', // Digital X-Ray Image Storage - For Processing
  '1.2.840.10008.5.1.4.1.1.7', // Secondary Capture Image Storage (public chest film collections)
]);

const VERIFICATION = '1.2.840.10008.1.1';
const NATIVE_SYNTAXES = [TS_EXPLICIT_LE, TS_IMPLICIT_LE, TS_DEFLATED_LE, TS_EXPLICIT_BE];

/** Whether deep-covid's reader decodes a transfer syntax. */
export function readableSyntax(ts: string): boolean {
  return NATIVE_SYNTAXES.includes(ts) || isSupportedCompressed(ts);
}

/** C-STORE status "Refused: Out of Resources". */
const OUT_OF_RESOURCES = 0xa700;

/** Options of the listener. */
export interface ListenOptions {
  model: PacsModel;
  /** Our AE title; associations called for another title are rejected. */
  aet: string;
  port: number;
  /** Address to listen on (default 127.0.0.1: this computer only). */
  host?: string;
  /** Calling AE titles allowed to send (default: any). */
  allowCallingAets?: string[];
  /** Associations at once (default 4); more are rejected as "local limit exceeded" (transient). */
  maxAssociations?: number;
  /** Time for a new connection to ask for an association, ms (default 30 s). */
  associationTimeoutMs?: number;
  /** Longest silence between PDUs of an association, ms (default 60 s). */
  pduTimeoutMs?: number;
  /** Largest object accepted, bytes (default 256 MiB). */
  maxObjectBytes?: number;
  /** Objects waiting for analysis (default 16); more are refused as "out of resources". */
  maxQueued?: number;
  /** Where to C-STORE the results; none = analyse and report only. */
  forward?: DicomPeer;
  forwardTimeoutMs?: number;
  onEvent?: (e: PacsEvent) => void;
  maxPixels?: number;
}

/** A running listener. */
export interface DimseListener {
  /** The port actually listened on (useful with port 0). */
  readonly port: number;
  /** Resolves when every received object has been analysed (and forwarded). */
  idle(): Promise<void>;
  /** Stops accepting, closes open associations, finishes the queue. */
  close(): Promise<void>;
}

interface Received {
  bytes: Uint8Array;
  tooLarge: boolean;
  ts: string;
}

/** Collects one object's dataset bytes, keeping nothing past the size limit. */
class Collector extends Writable {
  chunks: Buffer[] = [];
  bytes = 0;
  tooLarge = false;
  constructor(private readonly limit: number) {
    super();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) {
      this.tooLarge = true;
      this.chunks = [];
    } else this.chunks.push(chunk);
    cb();
  }
}

/** Shared state of all associations of one listener. */
class ListenerContext {
  active = 0;
  readonly received = new WeakMap<DimseDataset, Received>();
  private queue: { bytes: Uint8Array; ref: string }[] = [];
  private running: Promise<void> | null = null;
  private idleWaiters: (() => void)[] = [];

  constructor(readonly o: Required<Pick<ListenOptions, 'aet' | 'maxAssociations' | 'associationTimeoutMs' | 'pduTimeoutMs' | 'maxObjectBytes' | 'maxQueued'>> & ListenOptions) {}

  /** Queues an object; false when the queue is full. */
  enqueue(bytes: Uint8Array, ref: string): boolean {
    if (this.queue.length >= this.o.maxQueued) return false;
    this.queue.push({ bytes, ref });
    this.running ??= this.work().finally(() => {
      this.running = null;
      for (const w of this.idleWaiters.splice(0)) w();
    });
    return true;
  }

  idle(): Promise<void> {
    return this.running ? new Promise((resolve) => this.idleWaiters.push(resolve)) : Promise.resolve();
  }

  private async work(): Promise<void> {
    for (let job = this.queue.shift(); job; job = this.queue.shift()) {
      const outcome = await analyseInstance(this.o.model, job.bytes, job.ref, { maxPixels: this.o.maxPixels });
      let stored = 0;
      if (outcome.status === 'analysed' && this.o.forward) {
        try {
          await storeScu(this.o.forward, outcome.results.map((r) => r.dataset), { callingAet: this.o.aet, timeoutMs: this.o.forwardTimeoutMs });
          stored = outcome.results.length;
        } catch (err) {
          if (!(err instanceof PacsError)) throw err;
          this.o.onEvent?.({ type: 'error', ref: outcome.ref, studyRef: outcome.studyRef, message: err.message });
        }
      }
      this.o.onEvent?.({ type: 'instance', outcome, stored });
    }
  }
}

class DeepCovidScp extends Scp {
  private readonly ctx: ListenerContext;
  private assoc: Association | null = null;
  private counted = false;
  private readonly waitTimer: NodeJS.Timeout;

  constructor(socket: Socket, opts: { customOptions: { ctx: ListenerContext } } & Record<string, unknown>) {
    super(socket, opts);
    this.ctx = opts.customOptions.ctx;
    // a connection that never asks for an association is dropped
    this.waitTimer = setTimeout(() => {
      if (!this.assoc) socket.destroy();
    }, this.ctx.o.associationTimeoutMs);
    this.on('close', () => {
      clearTimeout(this.waitTimer);
      if (this.counted) {
        this.ctx.active--;
        this.counted = false;
        this.ctx.o.onEvent?.({ type: 'association', event: 'closed', detail: this.assoc?.getCallingAeTitle() ?? '' });
      }
    });
  }

  override associationRequested(association: Association): void {
    this.assoc = association;
    (this as unknown as { association: Association }).association = association;
    const { o } = this.ctx;
    const calling = association.getCallingAeTitle().trim();
    const reject = (result: number, source: number, reason: number, why: string) => {
      o.onEvent?.({ type: 'association', event: 'rejected', detail: `${calling}: ${why}` });
      this.sendAssociationReject(result, source, reason);
    };
    const { RejectResult, RejectSource, RejectReason } = constants;
    if (association.getCalledAeTitle().trim() !== o.aet) return reject(RejectResult.Permanent, RejectSource.ServiceUser, RejectReason.CalledAeNotRecognized, `called AE title "${association.getCalledAeTitle().trim()}" is not ${o.aet}`);
    if (o.allowCallingAets?.length && !o.allowCallingAets.includes(calling)) return reject(RejectResult.Permanent, RejectSource.ServiceUser, RejectReason.CallingAeNotRecognized, 'calling AE title not allowed');
    if (this.ctx.active >= o.maxAssociations) return reject(RejectResult.Transient, RejectSource.ServiceProviderPresentation, RejectReason.LocalLimitExceeded, `already ${this.ctx.active} associations (the limit)`);
    this.ctx.active++;
    this.counted = true;
    const R = constants.PresentationContextResult;
    for (const { context } of association.getPresentationContexts()) {
      const abstract = context.getAbstractSyntaxUid();
      const syntaxes = context.getTransferSyntaxUids();
      if (abstract === VERIFICATION) {
        const ts = syntaxes.find((t) => t === TS_IMPLICIT_LE || t === TS_EXPLICIT_LE);
        if (ts) context.setResult(R.Accept, ts);
        else context.setResult(R.RejectTransferSyntaxesNotSupported);
      } else if (ACCEPTED_SOP_CLASSES.includes(abstract)) {
        // the first syntax the sender proposes that the reader decodes: no transcoding anywhere
        const ts = syntaxes.find(readableSyntax);
        if (ts) context.setResult(R.Accept, ts);
        else context.setResult(R.RejectTransferSyntaxesNotSupported);
      } else context.setResult(R.RejectAbstractSyntaxNotSupported);
    }
    o.onEvent?.({ type: 'association', event: 'accepted', detail: calling });
    this.sendAssociationAccept();
  }

  override associationReleaseRequested(): void {
    this.sendAssociationReleaseResponse();
  }

  override cEchoRequest(request: CEchoRequest, callback: (r: InstanceType<typeof responses.CEchoResponse>) => void): void {
    const res = responses.CEchoResponse.fromRequest(request);
    res.setStatus(constants.Status.Success);
    callback(res);
  }

  override createStoreWritableStream(_pc: PresentationContext, _request: CStoreRequest): Writable {
    return new Collector(this.ctx.o.maxObjectBytes);
  }

  override createDatasetFromStoreWritableStream(writable: Writable, pc: PresentationContext, callback: (d: DimseDataset) => void): void {
    const c = writable as Collector;
    const ts = pc.getAcceptedTransferSyntaxUid() ?? TS_IMPLICIT_LE;
    // the dataset stays as received (bytes), read later by deep-covid's own reader; dcmjs-dimse gets an empty shell
    const shell = new Dataset({}, ts);
    this.ctx.received.set(shell, { bytes: c.tooLarge ? new Uint8Array(0) : Buffer.concat(c.chunks), tooLarge: c.tooLarge, ts });
    c.chunks = [];
    callback(shell);
  }

  override cStoreRequest(request: CStoreRequest, callback: (r: InstanceType<typeof responses.CStoreResponse>) => void): void {
    const res = responses.CStoreResponse.fromRequest(request);
    const ds = request.getDataset();
    const got = ds ? this.ctx.received.get(ds) : undefined;
    const sopInstance = request.getAffectedSopInstanceUid();
    const ref = uidRef(sopInstance);
    if (!got || got.tooLarge) {
      this.ctx.o.onEvent?.({ type: 'error', ref, message: got?.tooLarge ? `an object over ${this.ctx.o.maxObjectBytes} bytes was refused` : 'an object arrived without a data set' });
      res.setStatus(OUT_OF_RESOURCES);
    } else {
      const file = wrapNetworkDataset(got.bytes, request.getAffectedSopClassUid(), sopInstance, got.ts);
      if (this.ctx.enqueue(file, ref)) res.setStatus(constants.Status.Success);
      else {
        this.ctx.o.onEvent?.({ type: 'error', ref, message: `the analysis queue is full (${this.ctx.o.maxQueued} objects): the sender was told to retry later` });
        res.setStatus(OUT_OF_RESOURCES);
      }
    }
    callback(res);
  }
}

/** Starts the listener; resolves once it accepts connections. */
export async function listenDimse(opts: ListenOptions): Promise<DimseListener> {
  if (!/^[\x20-\x5b\x5d-\x7e]{1,16}$/.test(opts.aet) || !opts.aet.trim()) throw new PacsError(`AE title "${opts.aet}" is not valid: 1 to 16 printable characters, no backslash`);
  const ctx = new ListenerContext({
    maxAssociations: 4, associationTimeoutMs: 30_000, pduTimeoutMs: 60_000, maxObjectBytes: 256 * 2 ** 20, maxQueued: 16,
    ...opts,
    aet: opts.aet.trim(),
  });
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    const scp = new DeepCovidScp(socket, {
      // socket idle limit, and the PDU silence limit once associated
      connectTimeout: ctx.o.pduTimeoutMs,
      pduTimeout: ctx.o.pduTimeoutMs,
      associationTimeout: ctx.o.associationTimeoutMs,
      customOptions: { ctx },
    });
    // as dcmjs-dimse's own Server does: the socket is connected when handed over
    (scp as unknown as { connected: boolean }).connected = true;
    scp.on('networkError', () => socket.destroy());
  });
  // a hard cap on sockets as well, so rejected associations cannot pile up connections
  server.maxConnections = ctx.o.maxAssociations * 4;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'EADDRINUSE' ? new PacsError(`port ${opts.port} on ${opts.host ?? '127.0.0.1'} is already in use: pick another port`) : err));
    server.listen(opts.port, opts.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  opts.onEvent?.({ type: 'listening', port, aet: ctx.o.aet });
  return {
    port,
    idle: () => ctx.idle(),
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      await ctx.idle();
    },
  };
}
