/**
 * A user's view of what a Dockerfile would build (`kiln outline`): the build args with their defaults, and
 * every stage with its instructions after variable expansion. Base images are not fetched, so their ENV is
 * unknown: expansion sees only the Dockerfile's own ARG/ENV (as if every base image had an empty env).
 */
import { expandInstruction } from './expand-instruction.js';
import { createStageScope, type StageScope } from './scope.js';
import type { CommandForm, Heredoc, Instruction, ParsedDockerfile, RunMount } from './types.js';

export interface OutlineStage {
  index: number;
  name?: string;
  /** `scratch`, an image reference, or `stage <name|index>`. */
  base: string;
  platform?: string;
  /** Whether the target needs this stage (the others are skipped by a build). */
  required: boolean;
  line: number;
  instructions: Array<{ line: number; text: string }>;
}

export interface Outline {
  file: string;
  directives: ParsedDockerfile['directives'];
  target: string;
  /** ARGs before the first FROM plus ARGs of the required stages, first declaration wins. */
  buildArgs: Array<{ name: string; default?: string; value?: string; line: number; global: boolean }>;
  stages: OutlineStage[];
  warnings: string[];
}

function q(s: string): string {
  return /[\s"'\\$]/.test(s) || s === '' ? JSON.stringify(s) : s;
}

function command(c: CommandForm): string {
  return c.form === 'exec' ? JSON.stringify(c.args) : c.script;
}

function mountText(m: RunMount): string {
  const parts = [`type=${m.type}`];
  if (m.type === 'bind' || m.type === 'cache') {
    if (m.from) parts.push(`from=${m.from.raw}`);
    if (m.source && !(m.type === 'bind' && m.source === '/')) parts.push(`source=${m.source}`);
  }
  if (m.type === 'cache') parts.push(`id=${m.id}`, `sharing=${m.sharing}`);
  if (m.type === 'secret' || m.type === 'ssh') parts.push(`id=${m.id}`);
  if (m.type === 'secret' && m.env) parts.push(`env=${m.env}`);
  if (m.target && !(m.type === 'secret' && !m.hasTarget)) parts.push(`target=${m.target}`);
  if (m.type === 'tmpfs' && m.size) parts.push(`size=${m.size}`);
  const defaultRo = m.type !== 'cache' && m.type !== 'tmpfs';
  if (m.readonly !== defaultRo) parts.push(m.readonly ? 'ro' : 'rw');
  if (m.type === 'cache' || m.type === 'secret' || m.type === 'ssh') {
    const defMode = m.type === 'cache' ? 0o755 : m.type === 'secret' ? 0o400 : 0o600;
    if (m.mode !== defMode) parts.push(`mode=0${m.mode.toString(8)}`);
    if (m.uid !== 0) parts.push(`uid=${m.uid}`);
    if (m.gid !== 0) parts.push(`gid=${m.gid}`);
  }
  if ((m.type === 'secret' || m.type === 'ssh') && m.required) parts.push('required');
  return parts.join(',');
}

function marker(h: Heredoc): string {
  return h.expand ? `<<${h.name}` : `<<'${h.name}'`;
}

/** The heredoc bodies after an instruction line, each closed by its delimiter, as in a Dockerfile. */
function bodies(heredocs: readonly Heredoc[]): string {
  return heredocs.map((h) => `\n${h.content}${h.name}`).join('');
}

/**
 * One instruction as Dockerfile text, normalized (flags first, `key=value` pairs, exec form as JSON),
 * heredoc bodies included (tabs of `<<-` already stripped, so written as `<<`).
 */
export function formatInstruction(ins: Instruction): string {
  return formatLine(ins) + (ins.kind === 'RUN' || ins.kind === 'COPY' || ins.kind === 'ADD' ? bodies(ins.heredocs) : '');
}

function formatLine(ins: Instruction): string {
  switch (ins.kind) {
    case 'FROM':
      return `FROM ${ins.platform ? `--platform=${ins.platform} ` : ''}${ins.image}${ins.stageName ? ` AS ${ins.stageName}` : ''}`;
    case 'RUN': {
      const flags = [...ins.mounts.map((m) => `--mount=${mountText(m)}`)];
      if (ins.network) flags.push(`--network=${ins.network}`);
      if (ins.security) flags.push(`--security=${ins.security}`);
      return ['RUN', ...flags, command(ins.command)].join(' ');
    }
    case 'CMD':
    case 'ENTRYPOINT':
      return `${ins.kind} ${command(ins.command)}`;
    case 'LABEL':
      return `LABEL ${ins.labels.map((l) => `${q(l.key)}=${q(l.value)}`).join(' ')}`;
    case 'ENV':
      return `ENV ${ins.vars.map((l) => `${l.key}=${q(l.value)}`).join(' ')}`;
    case 'ARG':
      return `ARG ${ins.args.map((a) => (a.value === undefined ? a.key : `${a.key}=${q(a.value)}`)).join(' ')}`;
    case 'MAINTAINER':
      return `MAINTAINER ${ins.maintainer}`;
    case 'EXPOSE':
      return `EXPOSE ${ins.ports.join(' ')}`;
    case 'COPY':
    case 'ADD': {
      const flags: string[] = [];
      if (ins.kind === 'COPY' && ins.from) flags.push(`--from=${ins.from}`);
      if (ins.chown) flags.push(`--chown=${ins.chown}`);
      if (ins.chmod) flags.push(`--chmod=${ins.chmod}`);
      if (ins.link) flags.push('--link');
      if (ins.parents) flags.push('--parents');
      for (const e of ins.exclude) flags.push(`--exclude=${e}`);
      if (ins.kind === 'ADD') {
        if (ins.checksum) flags.push(`--checksum=${ins.checksum}`);
        if (ins.keepGitDir) flags.push('--keep-git-dir');
        if (ins.unpack !== undefined) flags.push(`--unpack=${ins.unpack}`);
      }
      const srcs = [...ins.sources.map(q), ...ins.heredocs.map(marker)];
      return [ins.kind, ...flags, ...srcs, q(ins.dest)].join(' ');
    }
    case 'VOLUME':
      return `VOLUME ${JSON.stringify(ins.volumes)}`;
    case 'USER':
      return `USER ${ins.user}`;
    case 'WORKDIR':
      return `WORKDIR ${ins.path}`;
    case 'ONBUILD':
      return `ONBUILD ${ins.expression.split('\n')[0]}`;
    case 'STOPSIGNAL':
      return `STOPSIGNAL ${ins.signal}`;
    case 'HEALTHCHECK': {
      if (ins.none) return 'HEALTHCHECK NONE';
      const flags: string[] = [];
      const d = (ns: number | undefined, name: string) => ns !== undefined && flags.push(`--${name}=${ns / 1e9}s`);
      d(ins.intervalNs, 'interval');
      d(ins.timeoutNs, 'timeout');
      d(ins.startPeriodNs, 'start-period');
      d(ins.startIntervalNs, 'start-interval');
      if (ins.retries !== undefined) flags.push(`--retries=${ins.retries}`);
      const cmd = ins.test[0] === 'CMD' ? JSON.stringify(ins.test.slice(1)) : ins.test[1]!;
      return ['HEALTHCHECK', ...flags, 'CMD', cmd].join(' ');
    }
    case 'SHELL':
      return `SHELL ${JSON.stringify(ins.shell)}`;
  }
}

/**
 * Expands every stage with the same helpers the builder uses (empty base env). Throws the expansion
 * errors the builder would hit (e.g. `${X:?required}`), with their line.
 */
export function outlineDockerfile(df: ParsedDockerfile): Outline {
  const scopes: StageScope[] = [];
  const required = new Set(df.requiredStages);
  const buildArgs: Outline['buildArgs'] = [];
  const seen = new Set<string>();
  for (const m of df.metaArgs) {
    if (seen.has(m.key)) continue;
    seen.add(m.key);
    buildArgs.push({
      name: m.key,
      ...(m.default !== undefined ? { default: m.default } : {}),
      ...(m.value !== undefined ? { value: m.value } : {}),
      line: m.loc.line,
      global: true,
    });
  }
  const stages: OutlineStage[] = [];
  for (const st of df.stages) {
    const scope =
      st.base.kind === 'stage' && scopes[st.base.index]
        ? scopes[st.base.index]!.child()
        : createStageScope({ globalArgs: df.globalArgs, buildArgs: df.buildArgs, baseEnv: [], escape: df.directives.escape, defaultPath: false });
    const lines: OutlineStage['instructions'] = [];
    for (const raw of st.instructions) {
      const ins = expandInstruction(raw, scope);
      scope.dispatch(ins);
      lines.push({ line: ins.loc.line, text: formatInstruction(ins) });
      if (ins.kind === 'ARG' && required.has(st.index)) {
        raw.kind === 'ARG' &&
          raw.args.forEach((a, i) => {
            if (seen.has(a.key)) return;
            seen.add(a.key);
            const v = ins.args[i]!.value;
            buildArgs.push({
              name: a.key,
              ...(a.value !== undefined ? { default: a.value } : {}),
              ...(v !== undefined ? { value: v } : {}),
              line: ins.loc.line,
              global: false,
            });
          });
      }
    }
    scopes[st.index] = scope;
    const base = st.base.kind === 'scratch' ? 'scratch' : st.base.kind === 'image' ? st.base.ref : `stage ${df.stages[st.base.index]!.name ?? st.base.index}`;
    stages.push({
      index: st.index,
      ...(st.name ? { name: st.name } : {}),
      base,
      ...(st.platform ? { platform: st.platform } : {}),
      required: required.has(st.index),
      line: st.loc.line,
      instructions: lines,
    });
  }
  const target = df.stages[df.targetIndex]!;
  return {
    file: df.file,
    directives: df.directives,
    target: target.name ?? String(target.index),
    buildArgs,
    stages,
    warnings: df.warnings.map((w) => (w.loc ? `${w.loc.file}:${w.loc.line}: ${w.message}` : w.message)),
  };
}
