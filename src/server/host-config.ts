/**
 * The parts of a `POST /containers/create` body (Config + HostConfig) that change how the container runs,
 * mapped to the executor's options as `kiln run`'s flags are: ExtraHosts, CapAdd/CapDrop, ReadonlyRootfs, Tmpfs,
 * Memory, NanoCpus, PidsLimit, SecurityOpt, Hostname, Privileged, ConsoleSize. The docker CLI sends zero values for what the user did not
 * set, so 0, false, null and empty lists mean "not set". Settings kiln cannot honour are refused with a clear
 * error instead of being dropped: a container must never run with less isolation, or more, than was asked.
 */
import { realpath } from 'node:fs/promises';
import { isAbsolute, relative } from 'node:path';
import { KilnError } from '../errors.js';
import { parseVolume } from '../containers/run-config.js';
import type { CreateContainerOptions } from '../containers/create-container.js';
import { parseSeccompProfile, type SeccompSetting } from '../sandbox/security-opt.js';
import type { ContainerCreate } from './backend.js';
import type { Entitlement } from '../builder/entitlements.js';

export type HostOptions = Pick<
  CreateContainerOptions,
  'hostname' | 'addHosts' | 'capAdd' | 'capDrop' | 'readonlyRootfs' | 'tmpfs' | 'limits' | 'seccomp' | 'consoleSize' | 'privileged'
>;

export function hostOptions(spec: ContainerCreate): HostOptions {
  const hc = spec.HostConfig ?? {};
  const out: HostOptions = {};
  if (hc.Privileged) out.privileged = true;
  if (spec.Hostname) out.hostname = spec.Hostname;
  if (hc.ExtraHosts?.length) out.addHosts = hc.ExtraHosts;
  if (hc.CapAdd?.length) out.capAdd = hc.CapAdd;
  if (hc.CapDrop?.length) out.capDrop = hc.CapDrop;
  if (hc.ReadonlyRootfs) out.readonlyRootfs = true;
  const tmpfs = Object.entries(hc.Tmpfs ?? {}).map(([path, opts]) => (opts ? `${path}:${opts}` : path));
  if (tmpfs.length) out.tmpfs = tmpfs;
  const limits: NonNullable<HostOptions['limits']> = {};
  if (positive(hc.Memory, 'Memory')) limits.memoryBytes = hc.Memory!;
  if (positive(hc.NanoCpus, 'NanoCpus')) limits.cpus = hc.NanoCpus! / 1e9;
  if (positive(hc.PidsLimit, 'PidsLimit')) limits.pids = hc.PidsLimit!;
  if (Object.keys(limits).length) out.limits = limits;
  const size = consoleSizeOf(hc.ConsoleSize);
  if (size) out.consoleSize = size;
  const seccomp = seccompOf(hc.SecurityOpt ?? []);
  if (seccomp) out.seccomp = seccomp;
  return out;
}

/**
 * Refuses a container that asks for more than the sandbox unless the server was started allowing it, with the
 * builds' entitlement names: the host's network (`docker run --network host`) needs network.host; lifting the
 * sandbox (`--privileged`, `--cap-add`, a seccomp setting other than the default profile) needs
 * security.insecure. The server runs strangers' requests; only its operator may grant these.
 */
export function checkContainerEntitlements(spec: ContainerCreate, permitted: readonly Entitlement[]): void {
  const hc = spec.HostConfig ?? {};
  const refuse = (e: Entitlement, what: string) => {
    if (permitted.includes(e)) return;
    throw new KilnError('ENTITLEMENT_DENIED', `${what} needs the ${e} entitlement, which this server does not grant`, {
      hint: `its operator can start it with kiln serve --allow ${e}`,
      details: { entitlement: e },
    });
  };
  if (hc.NetworkMode === 'host') refuse('network.host', 'a container on the host network (--network host)');
  if (hc.Privileged) refuse('security.insecure', 'a privileged container (--privileged)');
  if (hc.CapAdd?.length) refuse('security.insecure', `added capabilities (--cap-add ${hc.CapAdd.join(',')})`);
  const seccomp = seccompOf(hc.SecurityOpt ?? []);
  if (seccomp && seccomp !== 'default') refuse('security.insecure', 'a seccomp setting other than the default profile');
}

/**
 * A host path bound into a container (`docker run -v /srv/data:/data`) lets a stranger's container read or write
 * that part of the host, and `-v /:/host` all of it. Through the server, a bind source must lie inside a directory
 * the operator named (`kiln serve --allow-bind DIR`), after symlinks are resolved; named volumes need nothing.
 * Returns the binds with each host source replaced by its real path, so what is mounted is what was checked.
 */
export async function confineHostBinds(binds: string[], roots: readonly string[]): Promise<string[]> {
  const inside = (p: string) =>
    roots.some((r) => {
      const rel = relative(r, p);
      return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
    });
  const refuse = (source: string) =>
    new KilnError('ENTITLEMENT_DENIED', `a bind mount of the host path ${source} is not allowed by this server`, {
      hint: roots.length
        ? `this server allows binds from ${roots.join(', ')} only; use a named volume, or ask its operator`
        : 'use a named volume (-v NAME:/path); the operator can allow host directories with kiln serve --allow-bind DIR',
      details: { source },
    });
  const out: string[] = [];
  for (const b of binds) {
    const v = parseVolume(b, '/');
    if (v.kind !== 'bind') {
      out.push(b);
      continue;
    }
    // Lexically first: a path outside every allowed root is refused without saying whether it exists.
    if (!inside(v.source)) throw refuse(v.source);
    let real: string;
    try {
      real = await realpath(v.source);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR')
        throw new KilnError('INVALID_ARGUMENT', `invalid mount config: bind source path does not exist: ${v.source}`);
      throw err;
    }
    if (!inside(real)) throw refuse(v.source);
    out.push(`${real}:${v.target}${v.readonly ? ':ro' : ''}`);
  }
  return out;
}

/** `[rows, columns]`, or undefined for the CLI's `[0, 0]` (no terminal on its side) and anything malformed. */
export function consoleSizeOf(v: unknown): [number, number] | undefined {
  return Array.isArray(v) && v.length === 2 ? terminalSizeOf(v[0], v[1]) : undefined;
}

/** Rows and columns a terminal can have (positive integers up to 65535), or undefined. */
export function terminalSizeOf(rows: unknown, cols: unknown): [number, number] | undefined {
  const ok = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n > 0 && n <= 65535;
  return ok(rows) && ok(cols) ? [rows, cols] : undefined;
}

/** A limit given as a positive integer; 0, null and -1 (PidsLimit's "unlimited") mean unset. */
function positive(v: number | null | undefined, field: string): boolean {
  if (v === undefined || v === null || v === 0 || v === -1) return false;
  if (!Number.isFinite(v) || v < 0) throw new KilnError('INVALID_ARGUMENT', `invalid HostConfig.${field}: ${v}`);
  return true;
}

/**
 * SecurityOpt as the docker CLI sends it: `seccomp=unconfined`, `seccomp=builtin`, or `seccomp=` followed by the
 * profile's JSON (the CLI reads the file on the client; the server never opens a path a client names), and
 * `no-new-privileges` (always on). AppArmor and SELinux labels are refused: kiln applies neither.
 */
function seccompOf(opts: readonly string[]): SeccompSetting | undefined {
  let seccomp: SeccompSetting | undefined;
  for (const opt of opts) {
    const m = /^([a-z-]+)(?:[=:](.*))?$/s.exec(opt);
    const [key, value] = [m?.[1], m?.[2]];
    if (key === 'no-new-privileges' && (value === undefined || value === 'true')) continue;
    if (key === 'seccomp' && value === 'unconfined') seccomp = 'unconfined';
    else if (key === 'seccomp' && value === 'builtin') seccomp = 'default';
    else if (key === 'seccomp' && value?.trimStart().startsWith('{')) seccomp = { profile: parseSeccompProfile(value, 'SecurityOpt') };
    else {
      throw new KilnError('INVALID_ARGUMENT', `security option ${JSON.stringify(opt.length > 80 ? `${opt.slice(0, 80)}…` : opt)} is not supported`, {
        hint: 'kiln supports seccomp=unconfined, seccomp=builtin, a seccomp profile and no-new-privileges',
      });
    }
  }
  return seccomp;
}
