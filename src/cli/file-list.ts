// File lists that do not fit on a command line: `--files-from FILE` reads one path per line
// (`-` reads standard input), as tar -T and rsync --files-from do, so that thousands of files need
// neither a huge argv nor a shell glob.
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { UsageError } from '../errors.js';

/** Adds `--files-from <file>` to a command whose file arguments become optional. */
export function addFilesFromOption(cmd: Command): Command {
  return cmd.option('--files-from <file>', 'also read image paths from FILE, one per line ("-" = standard input)');
}

/** Reads the whole of a readable stream as UTF-8 text. */
async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The files a command works on: its arguments, then the lines of `--files-from` (blank lines
 * skipped, a trailing CR removed, nothing else trimmed since paths may hold spaces).
 * Throws UsageError when the list cannot be read or no file is given at all.
 */
export async function resolveFileArguments(args: string[], filesFrom: string | undefined, stdin: NodeJS.ReadableStream = process.stdin): Promise<string[]> {
  const files = [...args];
  if (filesFrom !== undefined) {
    let text: string;
    try {
      text = filesFrom === '-' ? await readAll(stdin) : await readFile(filesFrom, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new UsageError(`--files-from ${filesFrom}: cannot read the file list (${code === 'ENOENT' ? 'file not found' : code ?? String(err)})`);
    }
    for (const line of text.split('\n')) {
      const path = line.endsWith('\r') ? line.slice(0, -1) : line;
      if (path.trim() !== '') files.push(path);
    }
  }
  if (files.length === 0) throw new UsageError(filesFrom === undefined ? 'no image files given (name them, or list them with --files-from FILE or -)' : `--files-from ${filesFrom} lists no files`);
  return files;
}
