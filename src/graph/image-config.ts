/**
 * Metadata instructions applied to an image config exactly as Docker (BuildKit's dockerfile2llb) does: ENV
 * replaces in place, ENTRYPOINT resets a CMD inherited from the base, ONBUILD triggers are stored as text,
 * HEALTHCHECK NONE disables the base's check, EXPOSE expands port ranges. Pure functions over plain data.
 */
import { posix } from 'node:path';
import type { ContainerConfig, HistoryEntry, ImageConfig } from '../image/types.js';
import { KilnError } from '../errors.js';
import { PATH_MAX } from '../paths/in-root.js';
import type { CommandForm, StageInstruction } from '../parser/types.js';

/** BuildKit's default PATH for Linux images that set none. */
export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const DEFAULT_SHELL = ['/bin/sh', '-c'];
/** BuildKit's history comment for steps it wrote. */
export const HISTORY_COMMENT = 'buildkit.dockerfile.v0';

/**
 * A stage's config while it is being built, plus the flags Docker's rules need. It owns its `image`
 * (baseConfigState() and a stage's clone copy it whole), so applyMetadata() changes it in place: copying the env,
 * labels and history on every instruction made a long run of metadata instructions quadratic.
 */
export interface ConfigState {
  image: ImageConfig;
  /** CMD was set in this stage (then ENTRYPOINT keeps it). */
  cmdSet: boolean;
}

/** The config a stage starts from: the base image's (copied) or an empty Linux one for `scratch`. */
export function baseConfigState(base: ImageConfig | undefined, platform: { os: string; architecture: string; variant?: string }): ConfigState {
  const image: ImageConfig = base
    ? structuredClone(base)
    : {
        architecture: platform.architecture,
        os: platform.os,
        ...(platform.variant ? { variant: platform.variant } : {}),
        rootfs: { type: 'layers', diff_ids: [] },
        config: {},
        history: [],
      };
  image.config ??= {};
  image.history ??= [];
  const env = image.config.Env ?? [];
  if (!env.some((kv) => kv.startsWith('PATH='))) image.config.Env = [DEFAULT_PATH, ...env];
  // Triggers are consumed by the build that uses the image as a base (see onbuildTriggers()).
  image.config.OnBuild = null;
  delete image.created;
  return { image, cmdSet: false };
}

/** The OnBuild triggers a base image carries, to run first in the stage. */
export function onbuildTriggers(base: ImageConfig | undefined): string[] {
  return base?.config?.OnBuild ?? [];
}

/** Sets `KEY=value` in an env list in place, replacing the first entry of that key (Docker's order). */
function setEnv(list: string[], key: string, value: string): void {
  const prefix = `${key}=`;
  const i = list.findIndex((kv) => kv === key || kv.startsWith(prefix));
  if (i >= 0) list[i] = prefix + value;
  else list.push(prefix + value);
}

/** A command as the config stores it: shell form goes through the stage's SHELL. */
function commandArgs(cmd: CommandForm, shell: string[] | undefined): string[] {
  return cmd.form === 'exec' ? cmd.args : [...(shell?.length ? shell : DEFAULT_SHELL), cmd.script];
}

/** Expands `80`, `53/udp`, `8000-8002/tcp` into `port/proto` keys; throws INVALID_ARGUMENT on junk. */
export function exposedPorts(specs: string[]): string[] {
  const out: string[] = [];
  for (const spec of specs) {
    const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(spec.trim());
    if (!m) throw new KilnError('INVALID_ARGUMENT', `invalid port "${spec}" in EXPOSE`, { hint: 'use PORT[-END][/tcp|udp|sctp]' });
    const start = Number(m[1]);
    const end = m[2] ? Number(m[2]) : start;
    const proto = (m[3] ?? 'tcp').toLowerCase();
    if (start < 1 || end > 65535 || end < start) throw new KilnError('INVALID_ARGUMENT', `invalid port range "${spec}" in EXPOSE`);
    for (let p = start; p <= end; p++) out.push(`${p}/${proto}`);
  }
  return out;
}

/**
 * WORKDIR semantics (moby's normalizeWorkdir, which BuildKit shares): an absolute path is kept exactly as written
 * (`WORKDIR /tmp/` gives WorkingDir "/tmp/"); a relative one is joined to the current directory and cleaned, as Go's
 * filepath.Join does (no trailing slash).
 */
export function resolveWorkdir(current: string | undefined, path: string): string {
  const out = path.startsWith('/') ? path : posix.normalize(posix.join('/', current || '/', path)).replace(/(.)\/+$/, '$1');
  // Bounded here, before any work: no directory of this length can exist (a 30,000-component WORKDIR ran minutes).
  if (Buffer.byteLength(out) >= PATH_MAX) {
    throw new KilnError(
      'PATH_TOO_LONG',
      `WORKDIR ${JSON.stringify(`${out.slice(0, 80)}…`)} is ${Buffer.byteLength(out)} bytes long; the limit is ${PATH_MAX - 1} (Linux's PATH_MAX)`,
    );
  }
  return out;
}

function kvText(kvs: Array<{ key: string; value: string }>): string {
  return kvs.map(({ key, value }) => `${key}=${value}`).join(' ');
}

/** The history line BuildKit writes for a metadata instruction (after expansion). */
function metadataHistory(ins: StageInstruction, cfg: ContainerConfig): string {
  switch (ins.kind) {
    case 'ENV':
      return `ENV ${kvText(ins.vars)}`;
    case 'LABEL':
      return `LABEL ${kvText(ins.labels)}`;
    case 'CMD':
      return `CMD ${JSON.stringify(cfg.Cmd ?? [])}`;
    case 'ENTRYPOINT':
      return `ENTRYPOINT ${JSON.stringify(cfg.Entrypoint ?? [])}`;
    case 'EXPOSE':
      return `EXPOSE map[${Object.keys(cfg.ExposedPorts ?? {})
        .map((p) => `${p}:{}`)
        .join(' ')}]`;
    case 'VOLUME':
      return `VOLUME ${JSON.stringify(ins.volumes)}`;
    case 'SHELL':
      return `SHELL ${JSON.stringify(ins.shell)}`;
    default:
      return ins.original.replace(/\s+/g, ' ').trim();
  }
}

/**
 * Applies one (expanded) metadata instruction to the stage's config. Returns the history entry to append, or
 * undefined for instructions that leave none (ARG). Filesystem instructions (RUN, COPY, ADD) are not handled here.
 */
export function applyMetadata(state: ConfigState, ins: StageInstruction, created: string | undefined): HistoryEntry | undefined {
  const cfg = (state.image.config ??= {});
  switch (ins.kind) {
    case 'ENV':
      cfg.Env ??= [];
      for (const { key, value } of ins.vars) setEnv(cfg.Env, key, value);
      break;
    case 'LABEL':
      cfg.Labels ??= {};
      for (const { key, value } of ins.labels) cfg.Labels[key] = value;
      break;
    case 'MAINTAINER':
      state.image.author = ins.maintainer;
      break;
    case 'EXPOSE':
      cfg.ExposedPorts ??= {};
      for (const p of exposedPorts(ins.ports)) cfg.ExposedPorts[p] = {};
      break;
    case 'USER':
      cfg.User = ins.user;
      break;
    case 'WORKDIR':
      cfg.WorkingDir = resolveWorkdir(cfg.WorkingDir, ins.path);
      break;
    case 'VOLUME':
      cfg.Volumes ??= {};
      for (const v of ins.volumes) {
        if (!v.trim()) throw new KilnError('INVALID_ARGUMENT', 'VOLUME specified can not be an empty string');
        cfg.Volumes[v] = {};
      }
      break;
    case 'CMD':
      cfg.Cmd = commandArgs(ins.command, cfg.Shell);
      state.cmdSet = true;
      break;
    case 'ENTRYPOINT':
      cfg.Entrypoint = commandArgs(ins.command, cfg.Shell);
      // Docker: an ENTRYPOINT resets a CMD inherited from the base image, but not one set in this stage.
      if (!state.cmdSet) cfg.Cmd = null;
      break;
    case 'STOPSIGNAL':
      cfg.StopSignal = ins.signal;
      break;
    case 'HEALTHCHECK':
      if (ins.none) cfg.Healthcheck = { Test: ['NONE'] };
      else {
        cfg.Healthcheck = { Test: ins.test };
        if (ins.intervalNs !== undefined) cfg.Healthcheck.Interval = ins.intervalNs;
        if (ins.timeoutNs !== undefined) cfg.Healthcheck.Timeout = ins.timeoutNs;
        if (ins.startPeriodNs !== undefined) cfg.Healthcheck.StartPeriod = ins.startPeriodNs;
        if (ins.startIntervalNs !== undefined) cfg.Healthcheck.StartInterval = ins.startIntervalNs;
        if (ins.retries !== undefined) cfg.Healthcheck.Retries = ins.retries;
      }
      break;
    case 'SHELL':
      cfg.Shell = ins.shell;
      break;
    case 'ONBUILD':
      (cfg.OnBuild ??= []).push(ins.expression);
      break;
    case 'ARG':
      return undefined;
    case 'RUN':
    case 'COPY':
    case 'ADD':
      throw new KilnError('INTERNAL', `${ins.kind} is not a metadata instruction`);
    default: {
      const never: never = ins;
      throw new KilnError('INTERNAL', `unhandled instruction ${(never as { kind: string }).kind}`);
    }
  }
  const entry: HistoryEntry = { created_by: metadataHistory(ins, cfg), comment: HISTORY_COMMENT, empty_layer: true };
  if (created) entry.created = created;
  return entry;
}
