/**
 * The watch service's memory: which instances are done, so a restart resumes and nothing is
 * processed twice. Instances are kept as opaque references (a hash of the SOP Instance UID),
 * never as UIDs, and the file is replaced atomically after every change.
 */
import { readFile } from 'node:fs/promises';
import { PacsError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-write.js';

/** After this many failed attempts an instance is given up (and reported once). */
export const MAX_ATTEMPTS = 3;

interface StateFile {
  format: 'deep-covid-pacs-watch';
  version: 1;
  createdAt: string;
  /** The StudyDate lower bound of the searches (YYYYMMDD). */
  since: string;
  /** ref → 'analysed' | 'skipped' */
  done: Record<string, 'analysed' | 'skipped'>;
  /** ref → failed attempts so far */
  failed: Record<string, number>;
}

export class WatchState {
  private constructor(readonly path: string, private readonly s: StateFile) {}

  /** Loads the state file, or starts a new one (not yet written) searching from `since`. */
  static async open(path: string, since: string): Promise<WatchState> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new PacsError(`cannot read the watch state file ${path}: ${(err as Error).message}`);
      return new WatchState(path, { format: 'deep-covid-pacs-watch', version: 1, createdAt: new Date().toISOString(), since, done: {}, failed: {} });
    }
    let s: StateFile;
    try {
      s = JSON.parse(text) as StateFile;
    } catch {
      throw new PacsError(`the watch state file ${path} is not JSON: move it away to start afresh (instances already done would then be analysed again)`);
    }
    if (s.format !== 'deep-covid-pacs-watch' || s.version !== 1 || typeof s.done !== 'object' || typeof s.failed !== 'object') {
      throw new PacsError(`${path} is not a deep-covid watch state file (format deep-covid-pacs-watch, version 1)`);
    }
    return new WatchState(path, s);
  }

  get since(): string {
    return this.s.since;
  }

  set since(d: string) {
    this.s.since = d;
  }

  /** Number of instances done (analysed or skipped). */
  get doneCount(): number {
    return Object.keys(this.s.done).length;
  }

  /** True when the instance needs no more work: done, or failed too often. */
  isDone(ref: string): boolean {
    return ref in this.s.done || (this.s.failed[ref] ?? 0) >= MAX_ATTEMPTS;
  }

  async markDone(ref: string, how: 'analysed' | 'skipped'): Promise<void> {
    this.s.done[ref] = how;
    delete this.s.failed[ref];
    await this.save();
  }

  /** Records a failed attempt; returns the attempts so far. */
  async markFailed(ref: string): Promise<number> {
    const n = (this.s.failed[ref] ?? 0) + 1;
    this.s.failed[ref] = n;
    await this.save();
    return n;
  }

  save(): Promise<void> {
    return writeFileAtomic(this.path, JSON.stringify(this.s));
  }
}
