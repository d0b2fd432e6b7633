/**
 * Finds an unknown option before commander parses. Commander reports a missing required option
 * before an unknown one, so a misspelt `--runs X` would read "required option --run not
 * specified"; naming the unknown option (and the likely one) first is the helpful answer.
 */
import type { Command, Option } from 'commander';

/** An option the command does not know, and the closest one it does. */
export interface UnknownOption {
  command: Command;
  flag: string;
  suggestion: string | null;
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length][b.length];
}

function suggest(flag: string, known: string[]): string | null {
  let best: string | null = null;
  let bestD = Infinity;
  for (const k of known) {
    if (!k.startsWith('--')) continue;
    const dist = editDistance(flag, k);
    if (dist < bestD) {
      bestD = dist;
      best = k;
    }
  }
  // as commander: only close matches (at most a few edits, and under 40% of the word)
  return best !== null && bestD <= Math.max(1, Math.min(3, Math.floor(0.4 * flag.length))) ? best : null;
}

/**
 * The first option in `args` (argv without node and script) that the command it belongs to does
 * not define, or null. Subcommands are followed by name; values of options that take one are
 * skipped; `--` ends the options.
 */
export function findUnknownOption(program: Command, args: readonly string[]): UnknownOption | null {
  let cmd = program;
  // a command's own options, and (before a subcommand is named) those of its subcommands, one of
  // which may be the default that receives them
  const flagsOf = (c: Command) => {
    const map = new Map<string, Option>();
    for (const o of [...c.options, ...c.commands.flatMap((sub) => sub.options)]) {
      if (o.long && !map.has(o.long)) map.set(o.long, o);
      if (o.short && !map.has(o.short)) map.set(o.short, o);
    }
    for (const o of c.options) {
      if (o.long) map.set(o.long, o);
      if (o.short) map.set(o.short, o);
    }
    return map;
  };
  let known = flagsOf(cmd);
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--') return null;
    if (!a.startsWith('-') || a === '-') {
      const sub = cmd.commands.find((c) => c.name() === a || c.aliases().includes(a));
      if (sub) {
        cmd = sub;
        known = flagsOf(cmd);
      }
      continue;
    }
    if (a === '-h' || a === '--help') return null;
    const name = a.startsWith('--') ? a.split('=')[0] : a.slice(0, 2);
    const opt = known.get(name);
    if (!opt) return { command: cmd, flag: name, suggestion: suggest(name, [...known.keys()]) };
    const attached = a.startsWith('--') ? a.includes('=') : a.length > 2;
    // an option's value is the next argument, unless attached (--x=v, -xv) or optional and absent
    if ((opt.required || opt.optional) && !attached && i + 1 < args.length && (opt.required || !args[i + 1].startsWith('-'))) i++;
  }
  return null;
}
