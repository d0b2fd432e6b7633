import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { writeReproduceReport, writeRunReport } from '../../report/index.js';

/** Registers `report`: HTML + Markdown report with figures and model card for a run or a reproduce folder. */
export function registerReport(program: Command, io: { out: (s: string) => void; err: (s: string) => void }): void {
  program.command('report').description('write the report of a run (figures, tables with CIs, model card) or of a reproduce folder, as one self-contained HTML file plus Markdown and figures/')
    .option('--run <dir>', 'run folder written by train')
    .option('--reproduce <dir>', 'output folder written by reproduce (all models compared)')
    .option('--out <dir>', 'output folder (default: <run or reproduce folder>/report)')
    .addHelpText('after', `
Writes report.html (no scripts, no network: charts inline as SVG, images as data: URIs),
report.md, and figures/*.svg + figures/*.png. The same folder always gives the same bytes.
Examples:
  deep-covid report --run runs/squeezenet
  deep-covid report --reproduce runs/reproduce-20260101-1200 --out paper-report`)
    .action(async (o: { run?: string; reproduce?: string; out?: string }) => {
      if (!!o.run === !!o.reproduce) throw new UsageError('report: give exactly one of --run <run folder> or --reproduce <reproduce folder>');
      const warn = (m: string) => io.err(`warning: ${m}`);
      const res = o.run ? await writeRunReport(o.run, o.out, { warn }) : await writeReproduceReport(o.reproduce!, o.out, { warn });
      io.out(`report written to ${res.out}/report.html (${res.files.length} files)`);
    });
}
