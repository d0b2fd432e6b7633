/**
 * C-STORE of result objects to a DICOM peer (the PACS that should show them), one association
 * per batch, with timeouts. Resolves when every object was acknowledged with success.
 */
import dimse from 'dcmjs-dimse';
import { PacsError } from '../../errors.js';
import { EXPLICIT_VR_LITTLE_ENDIAN, type Naturalized } from '../dicom-io.js';

const { Client, Dataset, requests, constants } = dimse;

/** A DICOM application entity to send to. */
export interface DicomPeer {
  host: string;
  port: number;
  /** Its AE title. */
  aet: string;
}

/** Options of a C-STORE batch. */
export interface StoreScuOptions {
  /** Our AE title (the calling AE). */
  callingAet: string;
  /** Milliseconds to connect, to get the association answered, and between PDUs (default 30 s each). */
  timeoutMs?: number;
}

/** Stores datasets at `peer`; throws a PacsError naming the peer when anything is not stored. */
export function storeScu(peer: DicomPeer, datasets: Naturalized[], opts: StoreScuOptions): Promise<void> {
  const timeout = opts.timeoutMs ?? 30_000;
  const where = `${peer.aet} at ${peer.host}:${peer.port}`;
  return new Promise((resolve, reject) => {
    const client = new Client();
    const failures: string[] = [];
    let answered = 0;
    for (const d of datasets) {
      const req = new requests.CStoreRequest(new Dataset(d, EXPLICIT_VR_LITTLE_ENDIAN));
      req.on('response', (res: { getStatus(): number }) => {
        answered++;
        const status = res.getStatus();
        // 0x0000 success; 0xB000, 0xB007, 0xB006 are warnings (stored, possibly coerced)
        if (status !== constants.Status.Success && (status & 0xf000) !== 0xb000) failures.push(`status 0x${status.toString(16).padStart(4, '0')}`);
      });
      client.addRequest(req);
    }
    let settled = false;
    const finish = (err: PacsError | null) => {
      if (settled) return;
      settled = true;
      if (err) reject(err);
      else resolve();
    };
    client.on('associationRejected', (r: { getReason?: () => number }) => finish(new PacsError(`${where} rejected the association from ${opts.callingAet}${r?.getReason ? ` (reason ${r.getReason()})` : ''}: check that it knows this AE title`)));
    client.on('networkError', (e: Error) => finish(new PacsError(`storing results at ${where} failed: ${e.message}`, null, { cause: e })));
    client.on('closed', () => {
      if (failures.length) finish(new PacsError(`${where} did not store ${failures.length} of ${datasets.length} result objects (${failures.join(', ')})`));
      else if (answered < datasets.length) finish(new PacsError(`${where} closed the association after answering ${answered} of ${datasets.length} result objects`));
      else finish(null);
    });
    client.send(peer.host, peer.port, opts.callingAet, peer.aet, { connectTimeout: timeout, associationTimeout: timeout, pduTimeout: timeout });
  });
}
