/**
 * `docker run` semantics for turning an image config plus command-line flags into a process: ENTRYPOINT/CMD
 * rules, environment merging (`-e`, `--env-file`), user and working directory defaults, `-v` parsing and the
 * image's VOLUMEs. Pure functions, unit-tested.
 */
import { availableParallelism } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { KilnError } from '../errors.js';
import type { ContainerConfig } from '../image/types.js';

/**
 * The argv a container runs, by Docker's rules: `--entrypoint` replaces the image's ENTRYPOINT and drops its
 * CMD; arguments after the image replace CMD. `entrypoint === ''` clears the entrypoint.
 */
export function resolveArgs(config: ContainerConfig | undefined, cmd: string[], entrypoint?: string): string[] {
  let ep = config?.Entrypoint ?? [];
  let defaultCmd = config?.Cmd ?? [];
  if (entrypoint !== undefined) {
    ep = entrypoint === '' ? [] : [entrypoint];
    defaultCmd = [];
  }
  const args = [...ep, ...(cmd.length ? cmd : defaultCmd)];
  if (args.length === 0) {
    throw new KilnError('INVALID_ARGUMENT', 'no command specified', { hint: 'the image has no ENTRYPOINT or CMD; give a command after the image name' });
  }
  return args;
}

/** Parses an `--env-file`: `K=V` lines, `K` alone takes the host's value, `#` comments and blank lines skipped. */
export function parseEnvFile(text: string, file: string, hostEnv: NodeJS.ProcessEnv = process.env): string[] {
  const out: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/^\s+/, '');
    if (!line || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    const key = eq < 0 ? line.trim() : line.slice(0, eq);
    if (!key || /\s/.test(key)) throw new KilnError('INVALID_ARGUMENT', `${file}:${i + 1}: variable "${key}" contains whitespace`);
    if (eq < 0) {
      if (hostEnv[key] !== undefined) out.push(`${key}=${hostEnv[key]}`);
    } else out.push(line);
  });
  return out;
}

/** `-e K=V` as given; `-e K` takes the host's value or is dropped when the host has none. */
export function parseEnvFlags(flags: string[], hostEnv: NodeJS.ProcessEnv = process.env): string[] {
  const out: string[] = [];
  for (const f of flags) {
    if (f.startsWith('=')) throw new KilnError('INVALID_ARGUMENT', `invalid environment variable: ${f}`);
    if (f.includes('=')) out.push(f);
    else if (hostEnv[f] !== undefined) out.push(`${f}=${hostEnv[f]}`);
  }
  return out;
}

/** Image env first, then overrides by key (last wins), keeping first-seen order. */
export function mergeEnv(base: string[], overrides: string[]): string[] {
  const map = new Map<string, string>();
  for (const e of [...base, ...overrides]) {
    const eq = e.indexOf('=');
    const k = eq < 0 ? e : e.slice(0, eq);
    map.set(k, e);
  }
  return [...map.values()];
}

export type VolumeSpec =
  | { kind: 'bind'; source: string; target: string; readonly: boolean }
  | { kind: 'volume'; name: string; target: string; readonly: boolean; nocopy?: boolean }
  | { kind: 'anonymous'; target: string; readonly: boolean; nocopy?: boolean };

const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
/** `ro`, `rw` and `nocopy` (don't copy the image's files into an empty volume), comma-separated, as docker's -v. */
const MODES = /^(ro|rw|nocopy)(,(ro|rw|nocopy))*$/;

/** Parses `-v SRC:DST[:ro|rw][,nocopy]` or `-v DST[:…]` (anonymous volume). Host paths are absolute or start with `.`. */
export function parseVolume(spec: string, cwd = process.cwd()): VolumeSpec {
  const parts = spec.split(':');
  let mode = 'rw';
  if (parts.length === 3 || (parts.length === 2 && !parts[1]!.startsWith('/') && MODES.test(parts[1]!))) mode = parts.pop()!;
  if (!MODES.test(mode)) throw new KilnError('INVALID_ARGUMENT', `invalid mode "${mode}" in volume "${spec}"`, { hint: 'use :ro, :rw or :nocopy' });
  const flags = mode.split(',');
  const readonly = flags.includes('ro');
  if (readonly && flags.includes('rw')) throw new KilnError('INVALID_ARGUMENT', `invalid mode "${mode}" in volume "${spec}": both ro and rw`);
  const nocopy = flags.includes('nocopy') ? { nocopy: true } : {};
  if (parts.length === 1) {
    if (!isAbsolute(parts[0]!)) throw new KilnError('INVALID_ARGUMENT', `invalid volume "${spec}": the container path must be absolute`);
    return { kind: 'anonymous', target: parts[0]!, readonly, ...nocopy };
  }
  if (parts.length !== 2) throw new KilnError('INVALID_ARGUMENT', `invalid volume specification "${spec}"`, { hint: 'use -v SRC:DST[:ro]' });
  const [src, target] = parts as [string, string];
  if (!isAbsolute(target)) throw new KilnError('INVALID_ARGUMENT', `invalid volume "${spec}": the container path must be absolute`);
  if (src.startsWith('/') || src.startsWith('.')) {
    if (nocopy.nocopy) throw new KilnError('INVALID_ARGUMENT', `invalid volume "${spec}": nocopy applies to volumes, not bind mounts`);
    return { kind: 'bind', source: resolve(cwd, src), target, readonly };
  }
  if (!VOLUME_NAME.test(src))
    throw new KilnError('INVALID_ARGUMENT', `invalid volume name "${src}"`, { hint: 'names match [a-zA-Z0-9][a-zA-Z0-9_.-]+; host paths must be absolute' });
  return { kind: 'volume', name: src, target, readonly, ...nocopy };
}

/** `--volumes-from CONTAINER[:ro|rw]`: the container and the mode that overrides its mounts' (none: keep theirs). */
export function parseVolumesFrom(spec: string): { container: string; mode?: 'ro' | 'rw' } {
  const i = spec.lastIndexOf(':');
  const [container, mode] = i < 0 ? [spec, undefined] : [spec.slice(0, i), spec.slice(i + 1)];
  if (!container) throw new KilnError('INVALID_ARGUMENT', `invalid --volumes-from "${spec}": a container is required`);
  if (mode !== undefined && mode !== 'ro' && mode !== 'rw')
    throw new KilnError('INVALID_ARGUMENT', `invalid mode "${mode}" in --volumes-from "${spec}"`, { hint: 'use :ro or :rw' });
  return mode ? { container, mode } : { container };
}

/** Image VOLUMEs that no `-v` covers: each gets an anonymous volume, as in Docker. */
export function imageVolumes(config: ContainerConfig | undefined, given: ReadonlyArray<{ target: string }>): VolumeSpec[] {
  const covered = new Set(given.map((v) => v.target.replace(/\/+$/, '') || '/'));
  return Object.keys(config?.Volumes ?? {})
    .map((t) => t.replace(/\/+$/, '') || '/')
    .filter((t) => !covered.has(t))
    .map((target) => ({ kind: 'anonymous' as const, target, readonly: false }));
}

/** Parses `--memory` (`512m`, `1g`, `100000`) into bytes. */
export function parseMemory(s: string): number {
  const m = /^(\d+(?:\.\d+)?)([bkmg]?)b?$/i.exec(s.trim());
  if (!m) throw new KilnError('INVALID_ARGUMENT', `invalid memory size "${s}"`, { hint: 'e.g. 64m, 1g' });
  const mult = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'b' | 'k' | 'm' | 'g'];
  const bytes = Math.floor(Number(m[1]) * mult);
  if (bytes < 6 * 1024 * 1024) throw new KilnError('INVALID_ARGUMENT', `minimum memory limit allowed is 6MB`);
  return bytes;
}

/** Parses `--cpus`: Docker's range is 0.01 to the host's CPU count. */
export function parseCpus(s: string, hostCpus = availableParallelism()): number {
  const n = Number(s);
  if (!Number.isFinite(n) || n <= 0) throw new KilnError('INVALID_ARGUMENT', `invalid --cpus "${s}"`, { hint: 'a positive number, e.g. 0.5' });
  if (n < 0.01 || n > hostCpus)
    throw new KilnError('INVALID_ARGUMENT', `range of CPUs is from 0.01 to ${hostCpus}.00, as there are only ${hostCpus} CPUs available`);
  return n;
}

/** Parses `--pids-limit`: a positive integer; 0 or -1 mean unlimited (undefined). */
export function parsePidsLimit(s: string): number | undefined {
  const n = Number(s);
  if (!Number.isInteger(n) || n < -1)
    throw new KilnError('INVALID_ARGUMENT', `invalid --pids-limit "${s}"`, { hint: 'a positive integer, or -1 for unlimited' });
  return n > 0 ? n : undefined;
}

/** `--label KEY=VALUE` flags as a map (`KEY` alone is an empty value, as docker run's). */
export function parseLabels(flags: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of flags) {
    const i = f.indexOf('=');
    const key = i < 0 ? f : f.slice(0, i);
    if (!key) throw new KilnError('INVALID_ARGUMENT', `invalid label "${f}": the key is empty`);
    out[key] = i < 0 ? '' : f.slice(i + 1);
  }
  return out;
}
