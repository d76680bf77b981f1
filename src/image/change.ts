/**
 * `--change 'CMD ["sh"]'` for `kiln import`: the Dockerfile instructions Docker accepts there (CMD, ENTRYPOINT,
 * ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR), applied to a container config. A small parser
 * of its own: one instruction a string, JSON or shell form, no variable expansion (Docker does none here either).
 */
import { KilnError } from '../errors.js';
import type { ContainerConfig } from './types.js';

function invalid(change: string, why: string): KilnError {
  return new KilnError('INVALID_ARGUMENT', `--change "${change}": ${why}`, {
    hint: 'supported: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR',
  });
}

/** A JSON string array, or undefined when `s` is not one. */
function jsonArray(s: string): string[] | undefined {
  if (!s.trim().startsWith('[')) return undefined;
  try {
    const v = JSON.parse(s) as unknown;
    return Array.isArray(v) && v.every((x) => typeof x === 'string') ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Splits `a=1 "b=two words" c='x'` into key/value pairs (quotes removed). */
function keyValues(s: string, change: string, legacySpace: boolean): Array<[string, string]> {
  const words: string[] = [];
  let cur = '';
  let quote: string | undefined;
  let inWord = false;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (quote) {
      if (ch === quote) quote = undefined;
      else if (ch === '\\' && quote === '"' && i + 1 < s.length) cur += s[++i];
      else cur += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (ch === '\\' && i + 1 < s.length) {
      cur += s[++i];
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) {
        words.push(cur);
        cur = '';
        inWord = false;
      }
    } else {
      cur += ch;
      inWord = true;
    }
  }
  if (quote) throw invalid(change, 'unterminated quote');
  if (inWord) words.push(cur);
  if (legacySpace && words.length > 0 && !words[0]!.includes('=')) {
    // `ENV KEY value with spaces`: the legacy form, one pair.
    const rest = s
      .trim()
      .slice(s.trim().indexOf(' ') + 1)
      .trim();
    return [[words[0]!, rest]];
  }
  return words.map((w) => {
    const eq = w.indexOf('=');
    if (eq <= 0) throw invalid(change, `"${w}" is not KEY=VALUE`);
    return [w.slice(0, eq), w.slice(eq + 1)];
  });
}

/** Applies one `--change` instruction to `config` (mutated and returned). Throws INVALID_ARGUMENT. */
export function applyChange(config: ContainerConfig, change: string): ContainerConfig {
  const m = /^\s*(\w+)\s*([\s\S]*)$/.exec(change);
  if (!m) throw invalid(change, 'empty instruction');
  const kw = m[1]!.toUpperCase();
  const arg = m[2]!.trim();
  const command = (): string[] => jsonArray(arg) ?? ['/bin/sh', '-c', arg];
  switch (kw) {
    case 'CMD':
      config.Cmd = command();
      break;
    case 'ENTRYPOINT':
      config.Entrypoint = command();
      break;
    case 'ENV': {
      const env = config.Env ?? [];
      for (const [k, v] of keyValues(arg, change, true)) {
        const i = env.findIndex((e) => e.split('=')[0] === k);
        if (i >= 0) env[i] = `${k}=${v}`;
        else env.push(`${k}=${v}`);
      }
      config.Env = env;
      break;
    }
    case 'LABEL':
      config.Labels = { ...config.Labels, ...Object.fromEntries(keyValues(arg, change, false)) };
      break;
    case 'EXPOSE':
      for (const p of arg.split(/\s+/).filter(Boolean)) {
        if (!/^\d+(-\d+)?(\/(tcp|udp|sctp))?$/i.test(p)) throw invalid(change, `invalid port "${p}"`);
        (config.ExposedPorts ??= {})[p.includes('/') ? p.toLowerCase() : `${p}/tcp`] = {};
      }
      break;
    case 'VOLUME':
      for (const v of jsonArray(arg) ?? arg.split(/\s+/).filter(Boolean)) (config.Volumes ??= {})[v] = {};
      break;
    case 'USER':
      if (!arg) throw invalid(change, 'USER needs a value');
      config.User = arg;
      break;
    case 'WORKDIR':
      if (!arg) throw invalid(change, 'WORKDIR needs a path');
      config.WorkingDir = arg.startsWith('/') ? arg : `/${arg}`;
      break;
    case 'STOPSIGNAL':
      if (!arg) throw invalid(change, 'STOPSIGNAL needs a signal');
      config.StopSignal = arg;
      break;
    case 'ONBUILD':
      (config.OnBuild ??= []).push(arg);
      break;
    default:
      throw invalid(change, `${kw} cannot be used with --change`);
  }
  return config;
}
