import { Command, CommanderError } from 'commander';
import { DeepCovidError, UsageError } from '../errors.js';
import { env } from '../util/env.js';
import { registerFeatures } from './commands/features.js';
import { registerDataset } from './commands/dataset.js';
import { registerProtocol } from './commands/protocol.js';
import { registerModels } from './commands/models.js';
import { registerReport } from './commands/report.js';
import { registerExplain } from './commands/explain.js';
import { registerServe } from './commands/serve.js';
import { registerPacs } from './commands/pacs.js';
import { registerCache } from './commands/cache.js';
import { findUnknownOption } from './unknown-options.js';
import { registerScreen } from './commands/screen.js';

/** Output sinks, replaceable in tests. */
export interface CliIO {
  out: (s: string) => void;
  err: (s: string) => void;
}

const defaultIO: CliIO = { out: (s) => process.stdout.write(`${s}\n`), err: (s) => process.stderr.write(`${s}\n`) };

/** Builds the deep-covid command tree. */
export function buildProgram(io: CliIO = defaultIO): Command {
  // the command is the development tool: it finds the backbones in ../shared/models beside a checkout
  env.devModels = true;
  const program = new Command('deep-covid')
    .description('COVID-19 detection in chest X-rays by deep transfer learning (Deep-COVID, Minaee et al. 2020).\nResearch software, not a diagnostic device.')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) });
  registerFeatures(program, io);
  registerDataset(program, io);
  registerProtocol(program, io);
  registerModels(program, io);
  registerReport(program, io);
  registerExplain(program, io);
  registerServe(program, io);
  registerPacs(program, io);
  registerCache(program, io);
  registerScreen(program, io);
  // every (sub)command reports through io and returns instead of calling process.exit
  const configure = (cmd: Command): void => {
    for (const c of cmd.commands) {
      c.exitOverride().configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) });
      configure(c);
    }
  };
  configure(program);
  return program;
}

/** "dataset build " for a subcommand, "" for the program itself. */
function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.length ? `${names.join(' ')} ` : '';
}

/**
 * Runs the CLI and returns the exit code: 0 success, 1 failure, 2 bad usage. Errors that
 * deep-covid raises on purpose are printed as one clear message, without a stack trace.
 */
export async function main(argv: string[], io: CliIO = defaultIO): Promise<number> {
  const program = buildProgram(io);
  // a misspelt option is named before commander complains about a required one it hides
  const unknown = findUnknownOption(program, argv.slice(2));
  if (unknown) {
    io.err(`error: unknown option '${unknown.flag}'${unknown.suggestion ? `\n(Did you mean ${unknown.suggestion}?)` : ''}`);
    io.err(`(run deep-covid ${commandPath(unknown.command)}--help for usage)`);
    return 2;
  }
  // commands report partial failure through process.exitCode; scope it to this call
  const outer = process.exitCode;
  process.exitCode = undefined;
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (err instanceof UsageError) {
      io.err(`error: ${err.message}`);
      return 2;
    }
    if (err instanceof DeepCovidError) {
      io.err(`error: ${err.message}`);
      return 1;
    }
    throw err;
  } finally {
    process.exitCode = outer;
  }
}
