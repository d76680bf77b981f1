/**
 * Flag parsing for `kiln run` and `kiln exec`, which must stop at the image (or container) name: everything
 * after it is the command, flags included (`kiln run img httpd -f -p 80`). commander cannot do that without
 * positional options for the whole program, so these two commands take their argv raw and parse it here.
 */
import { KilnError } from '../errors.js';

export interface FlagDef {
  /** Long name without dashes. */
  name: string;
  short?: string;
  aliases?: string[];
  /** Takes a value; repeatable flags collect into an array. */
  value?: 'single' | 'multi';
  help: string;
}

export interface ParsedFlags {
  flags: Record<string, string | string[] | boolean>;
  /** First operand (image or container). */
  target?: string;
  rest: string[];
}

/** Parses `argv` up to the first operand; the operand and what follows are returned apart. */
export function parseFlags(argv: string[], defs: FlagDef[]): ParsedFlags {
  const byLong = new Map<string, FlagDef>();
  const byShort = new Map<string, FlagDef>();
  for (const d of defs) {
    byLong.set(d.name, d);
    for (const a of d.aliases ?? []) byLong.set(a, d);
    if (d.short) byShort.set(d.short, d);
  }
  const flags: ParsedFlags['flags'] = {};
  const set = (d: FlagDef, v: string | true) => {
    if (d.value === 'multi') flags[d.name] = [...((flags[d.name] as string[]) ?? []), v as string];
    else flags[d.name] = v;
  };
  let i = 0;
  const need = (d: FlagDef, shown: string): string => {
    const v = argv[++i];
    if (v === undefined) throw new KilnError('INVALID_ARGUMENT', `flag needs an argument: ${shown}`);
    return v;
  };
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      i++;
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = a.slice(2, eq < 0 ? undefined : eq);
      const d = byLong.get(name);
      if (!d) throw new KilnError('INVALID_ARGUMENT', `unknown flag: --${name}`, { hint: 'see --help' });
      if (d.value) set(d, eq < 0 ? need(d, a) : a.slice(eq + 1));
      else if (eq >= 0) flags[d.name] = !/^(false|0)$/i.test(a.slice(eq + 1));
      else set(d, true);
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      // Clustered short flags: -it, -dit, -eK=V, -p8080:80.
      for (let j = 1; j < a.length; j++) {
        const d = byShort.get(a[j]!);
        if (!d) throw new KilnError('INVALID_ARGUMENT', `unknown shorthand flag: '${a[j]}' in ${a}`, { hint: 'see --help' });
        if (d.value) {
          const tail = a.slice(j + 1);
          set(d, tail ? tail : need(d, `-${a[j]}`));
          break;
        }
        set(d, true);
      }
      continue;
    }
    break;
  }
  return { flags, target: argv[i], rest: argv.slice(i + 1) };
}

/** `--help` text for a flag table. */
export function flagHelp(defs: FlagDef[]): string {
  return defs
    .map((d) => {
      const names = `${d.short ? `-${d.short}, ` : '    '}--${d.name}${d.value ? ' <value>' : ''}`;
      return `  ${names.padEnd(28)} ${d.help}`;
    })
    .join('\n');
}

export const str = (f: ParsedFlags['flags'], k: string): string | undefined => (typeof f[k] === 'string' ? (f[k] as string) : undefined);
export const list = (f: ParsedFlags['flags'], k: string): string[] => (Array.isArray(f[k]) ? (f[k] as string[]) : []);
export const bool = (f: ParsedFlags['flags'], k: string): boolean => f[k] === true;
