/**
 * Variable expansion at dispatch time, on exactly the instructions and arguments Docker expands:
 * ENV and LABEL (keys and values), ARG defaults, EXPOSE, COPY/ADD (sources, destination, --chown, ADD
 * --checksum; heredoc bodies whose delimiter was unquoted, with quotes left alone), VOLUME, USER,
 * WORKDIR, STOPSIGNAL and RUN --mount options. Never RUN/CMD/ENTRYPOINT/SHELL/HEALTHCHECK command text (the
 * shell expands that), MAINTAINER or ONBUILD, and — as in BuildKit — not `--chmod` or `--exclude` either.
 * FROM was expanded at parse time.
 */
import { KilnError } from '../errors.js';
import { parseMount } from './mounts.js';
import type { StageScope } from './scope.js';
import { processWord, processWords, type LexOptions } from './shell-lexer.js';
import type { ArgInstruction, Heredoc, Instruction, RunMount } from './types.js';

const SIGNALS = [
  'ABRT',
  'ALRM',
  'BUS',
  'CHLD',
  'CLD',
  'CONT',
  'FPE',
  'HUP',
  'ILL',
  'INT',
  'IO',
  'IOT',
  'KILL',
  'PIPE',
  'POLL',
  'PROF',
  'PWR',
  'QUIT',
  'SEGV',
  'STKFLT',
  'STOP',
  'SYS',
  'TERM',
  'TRAP',
  'TSTP',
  'TTIN',
  'TTOU',
  'URG',
  'USR1',
  'USR2',
  'VTALRM',
  'WINCH',
  'XCPU',
  'XFSZ',
  'RTMIN',
  'RTMAX',
];

/** moby/sys/signal.ParseSignal: a number, or a name with or without SIG (RTMIN+n too). Throws DOCKERFILE_BAD_ARGS. */
export function validateSignal(sig: string): void {
  if (/^\d+$/.test(sig)) {
    if (Number(sig) === 0 || Number(sig) > 64) throw new KilnError('DOCKERFILE_BAD_ARGS', `invalid signal: ${sig}`);
    return;
  }
  const name = sig.toUpperCase().replace(/^SIG/, '');
  if (SIGNALS.includes(name) || /^RTMIN\+([1-9]|1[0-5])$/.test(name) || /^RTMAX-([1-9]|1[0-4])$/.test(name)) return;
  throw new KilnError('DOCKERFILE_BAD_ARGS', `invalid signal: ${sig}`);
}

const PORT = /^(\d{1,5})(?:-(\d{1,5}))?(?:\/(tcp|udp|sctp))?$/i;

/** `80`, `80/udp`, `8000-8010/tcp`; throws DOCKERFILE_BAD_ARGS. */
export function validatePort(p: string): void {
  const m = PORT.exec(p);
  const ok = m && Number(m[1]) <= 65535 && (m[2] === undefined || (Number(m[2]) <= 65535 && Number(m[2]) >= Number(m[1])));
  if (!ok) throw new KilnError('DOCKERFILE_BAD_ARGS', `invalid containerPort: ${p}`);
}

/**
 * The values an ARG instruction takes in `scope` now (BuildKit's dispatchArg): a `--build-arg` wins; an ARG
 * without default inherits a global arg of its name; a default is expanded with the state env (earlier names
 * on the same line included). The result goes to `scope.dispatchArg`.
 */
function resolveArg(ins: ArgInstruction, scope: StageScope, lex: LexOptions): ArgInstruction {
  const env = new Map(scope.env());
  const args = ins.args.map((a) => {
    const hasBuildArg = Object.prototype.hasOwnProperty.call(scope.buildArgValues, a.key);
    let value: string | undefined;
    if (hasBuildArg) value = scope.buildArgValues[a.key];
    else if (a.value !== undefined) value = processWord(a.value, env, lex);
    else if (Object.prototype.hasOwnProperty.call(scope.globalArgs, a.key)) value = scope.globalArgs[a.key];
    if (value !== undefined) env.set(a.key, value);
    return value === undefined ? { key: a.key } : { key: a.key, value };
  });
  return { ...ins, args };
}

function expandHeredoc(h: Heredoc, env: ReadonlyMap<string, string>): Heredoc {
  if (!h.expand) return h;
  // BuildKit's ExpandRaw: backslash escapes, quotes left as they are.
  return { ...h, content: processWord(h.content, env, { escape: '\\', skipProcessQuotes: true }) };
}

function expandMounts(specs: string[], previous: RunMount[], word: (s: string) => string): RunMount[] {
  let ssh = 0;
  return specs.map((spec, i) => {
    const m = parseMount(spec, { expand: word, sshIndex: ssh });
    if (m.type === 'ssh') ssh++;
    const before = previous[i];
    // `from=` cannot hold variables, so the parser's resolution (stage index or image) still holds.
    if ((m.type === 'bind' || m.type === 'cache') && before && (before.type === 'bind' || before.type === 'cache') && before.from) {
      m.from = before.from;
    }
    return m;
  });
}

/**
 * Returns `ins` with variables expanded in `scope` (which it does not change: call `scope.dispatch()` on the
 * result for ARG/ENV). Throws KilnError EXPANSION_FAILED or DOCKERFILE_BAD_ARGS/BAD_FLAG with the line.
 */
export function expandInstruction<T extends Instruction>(ins: T, scope: StageScope): T {
  try {
    return expand(ins, scope) as T;
  } catch (err) {
    if (err instanceof KilnError) throw err.at({ file: ins.loc.file, line: ins.loc.line });
    throw err;
  }
}

function expand(ins: Instruction, scope: StageScope): Instruction {
  const lex: LexOptions = { escape: scope.escape };
  const env = scope.env();
  const word = (s: string) => processWord(s, env, lex);
  switch (ins.kind) {
    case 'ENV':
      return { ...ins, vars: ins.vars.map((v) => ({ key: word(v.key), value: word(v.value) })) };
    case 'LABEL':
      return { ...ins, labels: ins.labels.map((v) => ({ key: word(v.key), value: word(v.value) })) };
    case 'ARG':
      return resolveArg(ins, scope, lex);
    case 'EXPOSE': {
      const ports = ins.ports.flatMap((p) => processWords(p, env, lex));
      for (const p of ports) validatePort(p);
      return { ...ins, ports };
    }
    case 'COPY':
    case 'ADD': {
      // Sources keep their escapes: they are glob patterns, and `\?` must reach the matcher as a literal `?`
      // (BuildKit: `COPY ./app/n\?pe/f /d` copies only from `n?pe`, not from `nope`).
      const source = (s: string) => processWord(s, env, { ...lex, rawEscapes: true });
      const out = {
        ...ins,
        sources: ins.sources.map(source),
        dest: word(ins.dest),
        heredocs: ins.heredocs.map((h) => expandHeredoc(h, env)),
      };
      if (ins.chown !== undefined) out.chown = word(ins.chown);
      if (ins.kind === 'ADD' && ins.checksum !== undefined) (out as typeof ins).checksum = word(ins.checksum);
      return out;
    }
    case 'VOLUME':
      return { ...ins, volumes: ins.volumes.map(word) };
    case 'USER':
      return { ...ins, user: word(ins.user) };
    case 'WORKDIR':
      return { ...ins, path: word(ins.path) };
    case 'STOPSIGNAL': {
      const signal = word(ins.signal);
      validateSignal(signal);
      return { ...ins, signal };
    }
    case 'RUN':
      return ins.mountSpecs.length ? { ...ins, mounts: expandMounts(ins.mountSpecs, ins.mounts, word) } : ins;
    case 'FROM':
    case 'CMD':
    case 'ENTRYPOINT':
    case 'MAINTAINER':
    case 'ONBUILD':
    case 'HEALTHCHECK':
    case 'SHELL':
      return ins;
  }
}
