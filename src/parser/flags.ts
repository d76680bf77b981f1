/**
 * Instruction flags (`--chown=1:1`, `--link`, `--mount=…` repeated), checked the way BuildKit's BFlags does:
 * unknown flags, duplicates of single-valued flags, missing values and non-boolean values are errors.
 */
import { KilnError } from '../errors.js';
import { suggest } from './suggest.js';

export type FlagSpec = Record<string, 'bool' | 'string' | 'strings'>;

export interface FlagValues {
  bool(name: string): boolean;
  /** Explicit boolean value, or undefined when the flag is absent. */
  optionalBool(name: string): boolean | undefined;
  string(name: string): string | undefined;
  strings(name: string): string[];
  /** Names of the flags that were given. */
  used: Set<string>;
}

/**
 * Parses `flags` (each without quotes, still with `--`) against `spec`. Throws DOCKERFILE_BAD_FLAG; the caller
 * adds the location.
 */
export function parseFlags(instruction: string, flags: readonly string[], spec: FlagSpec): FlagValues {
  const bools = new Map<string, boolean>();
  const strs = new Map<string, string>();
  const lists = new Map<string, string[]>();
  const used = new Set<string>();
  for (const raw of flags) {
    if (!raw.startsWith('--')) throw new KilnError('DOCKERFILE_BAD_FLAG', `${instruction}: flag should start with --: ${raw}`);
    if (raw === '--') break;
    let name = raw.slice(2);
    let value = '';
    const eq = name.indexOf('=');
    if (eq >= 0) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    const type = spec[name];
    if (!type) {
      const s = suggest(name, Object.keys(spec));
      throw new KilnError('DOCKERFILE_BAD_FLAG', `unknown flag: --${name} for ${instruction}${s ? ` (did you mean --${s}?)` : ''}`);
    }
    if (used.has(name) && type !== 'strings') throw new KilnError('DOCKERFILE_BAD_FLAG', `duplicate flag specified: --${name}`);
    used.add(name);
    if (type === 'bool') {
      if (eq >= 0 && value === '') throw new KilnError('DOCKERFILE_BAD_FLAG', `missing a value on flag: --${name}`);
      const lower = value.toLowerCase();
      if (lower === '' || lower === 'true') bools.set(name, true);
      else if (lower === 'false') bools.set(name, false);
      else throw new KilnError('DOCKERFILE_BAD_FLAG', `expecting boolean value for flag --${name}, not: ${value}`);
    } else {
      if (eq < 0) throw new KilnError('DOCKERFILE_BAD_FLAG', `missing a value on flag: --${name}`);
      if (type === 'string') strs.set(name, value);
      else lists.set(name, [...(lists.get(name) ?? []), value]);
    }
  }
  return new ParsedFlags(bools, strs, lists, used);
}

// A class rather than an object of closures: parseFlags runs once per instruction.
class ParsedFlags implements FlagValues {
  constructor(
    private readonly bools: Map<string, boolean>,
    private readonly strs: Map<string, string>,
    private readonly lists: Map<string, string[]>,
    readonly used: Set<string>,
  ) {}

  bool(n: string): boolean {
    return this.bools.get(n) ?? false;
  }

  optionalBool(n: string): boolean | undefined {
    return this.bools.get(n);
  }

  string(n: string): string | undefined {
    return this.strs.get(n);
  }

  strings(n: string): string[] {
    return this.lists.get(n) ?? [];
  }
}
