/**
 * Step 2 of 3: a raw node to a typed `Instruction` (BuildKit's instructions/parse.go): flags checked per
 * instruction, argument counts checked, exec/shell form decided, heredoc sources attached. No variable is
 * expanded here (see expand-instruction.ts); FROM is expanded later, with the global args, in stages.ts.
 */
import { KilnError, type ErrorCode } from '../errors.js';
import { parseGoDuration } from './durations.js';
import { parseFlags, type FlagSpec, type FlagValues } from './flags.js';
import { parseHeredocWord } from './heredoc.js';
import { parseJsonArray, parseNameValues, parseWords, splitWhitespace } from './line-args.js';
import { parseMount } from './mounts.js';
import { suggest } from './suggest.js';
import type { RawNode } from './syntax.js';
import type {
  AddInstruction,
  CommandForm,
  CopyInstruction,
  CopyLikeFields,
  Heredoc,
  HealthcheckInstruction,
  Instruction,
  InstructionKind,
  InstructionLoc,
  RunInstruction,
  RunMount,
} from './types.js';

const INSTRUCTION_KINDS: readonly InstructionKind[] = [
  'FROM',
  'RUN',
  'CMD',
  'ENTRYPOINT',
  'LABEL',
  'MAINTAINER',
  'EXPOSE',
  'ENV',
  'ADD',
  'COPY',
  'VOLUME',
  'USER',
  'WORKDIR',
  'ARG',
  'ONBUILD',
  'STOPSIGNAL',
  'HEALTHCHECK',
  'SHELL',
];

function fail(code: ErrorCode, message: string): never {
  throw new KilnError(code, message);
}

const MIN_DURATION_NS = 1e6; // Docker's container.MinimumDuration (1 ms)

const COPY_FLAGS: FlagSpec = { from: 'string', chown: 'string', chmod: 'string', link: 'bool', parents: 'bool', exclude: 'strings' };
const ADD_FLAGS: FlagSpec = { chown: 'string', chmod: 'string', link: 'bool', 'keep-git-dir': 'bool', checksum: 'string', exclude: 'strings', unpack: 'bool' };
// No --device: CDI devices are not supported, and an unknown flag is better than one silently ignored.
const RUN_FLAGS: FlagSpec = { mount: 'strings', network: 'string', security: 'string' };
const HEALTH_FLAGS: FlagSpec = { interval: 'string', timeout: 'string', 'start-period': 'string', 'start-interval': 'string', retries: 'string' };
const NO_FLAGS: FlagSpec = {};

/** Exec form when the text is a JSON string array, else shell form (BuildKit's parseMaybeJSON). */
function commandForm(rest: string): CommandForm {
  const j = parseJsonArray(rest);
  return j.ok ? { form: 'exec', args: j.args } : { form: 'shell', script: rest };
}

/** Splits COPY/ADD arguments into sources, heredoc sources and destination. */
function sourcesAndDest(node: RawNode, name: 'COPY' | 'ADD', args: string[]): Pick<CopyLikeFields, 'sources' | 'heredocs' | 'dest'> {
  if (args.length < 2) fail('DOCKERFILE_BAD_ARGS', `${name} requires at least two arguments, but only one was provided. Destination could not be determined`);
  const dest = args[args.length - 1]!;
  if (parseHeredocWord(dest)) fail('DOCKERFILE_BAD_ARGS', `${name} cannot accept a heredoc as a destination`);
  const byName = new Map<string, Heredoc>(node.heredocs.map((h) => [h.name, h]));
  const sources: string[] = [];
  const heredocs: Heredoc[] = [];
  for (const src of args.slice(0, -1)) {
    const h = parseHeredocWord(src);
    if (h) {
      const body = byName.get(h.name);
      heredocs.push({ name: h.name, content: body?.content ?? '', expand: h.expand, stripTabs: h.stripTabs });
    } else {
      sources.push(src);
    }
  }
  return { sources, heredocs, dest };
}

/**
 * `--chmod` is never expanded, so it is checked here: octal up to 07777 or a symbolic mode (`u+x,go-w`), as
 * BuildKit accepts. Throws DOCKERFILE_BAD_FLAG.
 */
function checkChmod(chmod: string): void {
  if (/^[0-7]+$/.test(chmod) && parseInt(chmod, 8) <= 0o7777) return;
  if (!/^\d+$/.test(chmod) && /^[ugoa]*[-+=][rwxXst]*(,[ugoa]*[-+=][rwxXst]*)*$/.test(chmod)) return;
  fail('DOCKERFILE_BAD_FLAG', `invalid chmod parameter: '${chmod}'. it should be octal string and between 0 and 07777`);
}

function copyArgs(node: RawNode): string[] {
  const j = parseJsonArray(node.rest);
  return j.ok ? j.args : splitWhitespace(node.rest);
}

function parseDurationFlag(flags: FlagValues, name: string): number | undefined {
  const v = flags.string(name);
  if (v === undefined || v === '') return undefined;
  const ns = parseGoDuration(v);
  if (ns === 0) return 0;
  if (ns < MIN_DURATION_NS) fail('DOCKERFILE_BAD_FLAG', `Interval ${JSON.stringify(name)} cannot be less than 1ms`);
  return ns;
}

function parseHealthcheck(node: RawNode, base: { loc: InstructionLoc; original: string }): HealthcheckInstruction {
  const rest = node.rest;
  const sep = rest.search(/\s/);
  const typ = (sep < 0 ? rest : rest.slice(0, sep)).toUpperCase();
  const cmdText = sep < 0 ? '' : rest.slice(sep).trimStart();
  if (typ === '') fail('DOCKERFILE_BAD_ARGS', 'HEALTHCHECK requires at least one argument');
  if (typ === 'NONE') {
    if (cmdText !== '') fail('DOCKERFILE_BAD_ARGS', 'HEALTHCHECK NONE takes no arguments');
    return { kind: 'HEALTHCHECK', ...base, none: true, test: ['NONE'] };
  }
  const flags = parseFlags('HEALTHCHECK', node.flags, HEALTH_FLAGS);
  if (typ !== 'CMD') fail('DOCKERFILE_BAD_ARGS', `Unknown type ${JSON.stringify(typ)} in HEALTHCHECK (try CMD)`);
  const form = cmdText === '' ? undefined : commandForm(cmdText);
  if (!form || (form.form === 'exec' && form.args.length === 0)) fail('DOCKERFILE_BAD_ARGS', 'Missing command after HEALTHCHECK CMD');
  const test = form.form === 'exec' ? ['CMD', ...form.args] : ['CMD-SHELL', form.script];
  const out: HealthcheckInstruction = { kind: 'HEALTHCHECK', ...base, none: false, test };
  const interval = parseDurationFlag(flags, 'interval');
  const timeout = parseDurationFlag(flags, 'timeout');
  const startPeriod = parseDurationFlag(flags, 'start-period');
  const startInterval = parseDurationFlag(flags, 'start-interval');
  if (interval !== undefined) out.intervalNs = interval;
  if (timeout !== undefined) out.timeoutNs = timeout;
  if (startPeriod !== undefined) out.startPeriodNs = startPeriod;
  if (startInterval !== undefined) out.startIntervalNs = startInterval;
  const retries = flags.string('retries');
  if (retries !== undefined && retries !== '') {
    if (!/^[+-]?\d+$/.test(retries) || Math.abs(Number(retries)) > 2 ** 31 - 1)
      fail('DOCKERFILE_BAD_FLAG', `strconv.ParseInt: parsing ${JSON.stringify(retries)}: invalid syntax`);
    const n = Number(retries);
    if (n < 0) fail('DOCKERFILE_BAD_FLAG', `--retries cannot be negative (${n})`);
    out.retries = n;
  }
  return out;
}

function parseRun(node: RawNode, base: { loc: InstructionLoc; original: string }): RunInstruction {
  const flags = parseFlags('RUN', node.flags, RUN_FLAGS);
  const mountSpecs = flags.strings('mount');
  const mounts: RunMount[] = [];
  let ssh = 0;
  for (const spec of mountSpecs) {
    const m = parseMount(spec, { sshIndex: ssh });
    if (m.type === 'ssh') ssh++;
    mounts.push(m);
  }
  const network = flags.string('network');
  if (network !== undefined && network !== 'default' && network !== 'none' && network !== 'host') {
    fail('DOCKERFILE_BAD_FLAG', `unsupported network mode ${JSON.stringify(network)} (use default, none or host)`);
  }
  const security = flags.string('security');
  if (security !== undefined && security !== 'sandbox' && security !== 'insecure') {
    fail('DOCKERFILE_BAD_FLAG', `unsupported security mode ${JSON.stringify(security)} (use sandbox or insecure)`);
  }
  if (node.rest === '' && node.heredocs.length === 0) fail('DOCKERFILE_BAD_ARGS', 'RUN requires at least one argument');
  const command = commandForm(node.rest);
  if (node.heredocs.length > 0 && command.form === 'exec') fail('DOCKERFILE_BAD_ARGS', 'RUN in exec form (JSON) cannot take heredocs');
  const out: RunInstruction = { kind: 'RUN', ...base, command, mounts, heredocs: node.heredocs, mountSpecs };
  if (network !== undefined) out.network = network;
  if (security !== undefined) out.security = security;
  return out;
}

function parseCopy(node: RawNode, base: { loc: InstructionLoc; original: string }): CopyInstruction {
  const flags = parseFlags('COPY', node.flags, COPY_FLAGS);
  const from = flags.string('from');
  if (from !== undefined && from.includes('$')) {
    fail('DOCKERFILE_BAD_FLAG', 'variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround');
  }
  const out: CopyInstruction = {
    kind: 'COPY',
    ...base,
    ...sourcesAndDest(node, 'COPY', copyArgs(node)),
    link: flags.bool('link'),
    parents: flags.bool('parents'),
    exclude: flags.strings('exclude'),
  };
  if (from !== undefined && from !== '') out.from = from;
  const chown = flags.string('chown');
  const chmod = flags.string('chmod');
  if (chown !== undefined && chown !== '') out.chown = chown;
  if (chmod !== undefined && chmod !== '') {
    checkChmod(chmod);
    out.chmod = chmod;
  }
  return out;
}

function parseAdd(node: RawNode, base: { loc: InstructionLoc; original: string }): AddInstruction {
  const flags = parseFlags('ADD', node.flags, ADD_FLAGS);
  const out: AddInstruction = {
    kind: 'ADD',
    ...base,
    ...sourcesAndDest(node, 'ADD', copyArgs(node)),
    link: flags.bool('link'),
    parents: false,
    exclude: flags.strings('exclude'),
    keepGitDir: flags.bool('keep-git-dir'),
  };
  const unpack = flags.optionalBool('unpack');
  if (unpack !== undefined) out.unpack = unpack;
  for (const [flag, key] of [
    ['chown', 'chown'],
    ['chmod', 'chmod'],
    ['checksum', 'checksum'],
  ] as const) {
    const v = flags.string(flag);
    if (v !== undefined && v !== '') out[key] = v;
  }
  if (out.chmod !== undefined) checkChmod(out.chmod);
  return out;
}

/** Whole argument text as one value (USER, WORKDIR, MAINTAINER, STOPSIGNAL). */
function single(node: RawNode, name: string): string {
  parseFlags(name, node.flags, NO_FLAGS);
  if (node.rest === '') fail('DOCKERFILE_BAD_ARGS', `${name} requires exactly one argument`);
  return node.rest;
}

/**
 * Types one raw node. Throws KilnError (DOCKERFILE_UNKNOWN_INSTRUCTION, DOCKERFILE_BAD_FLAG, DOCKERFILE_BAD_ARGS,
 * DOCKERFILE_SYNTAX) located at the node's first line.
 */
export function parseInstruction(node: RawNode, ctx: { file: string; escape: string }): Instruction {
  const loc: InstructionLoc = { file: ctx.file, line: node.startLine, endLine: node.endLine };
  try {
    return typeNode(node, loc, ctx.escape);
  } catch (err) {
    if (err instanceof KilnError) throw err.at({ file: ctx.file, line: node.startLine });
    throw err;
  }
}

function typeNode(node: RawNode, loc: InstructionLoc, escape: string): Instruction {
  const base = { loc, original: node.original };
  const kind = node.cmd.toUpperCase() as InstructionKind;
  switch (kind) {
    case 'FROM': {
      const flags = parseFlags('FROM', node.flags, { platform: 'string' });
      const args = splitWhitespace(node.rest);
      let stageName: string | undefined;
      if (args.length === 3 && args[1]!.toLowerCase() === 'as') {
        stageName = args[2]!.toLowerCase();
        if (!/^[a-z][a-z0-9-_.]*$/.test(stageName)) {
          fail('DOCKERFILE_BAD_ARGS', `invalid name for build stage: ${JSON.stringify(args[2])}, name can't start with a number or contain symbols`);
        }
      } else if (args.length !== 1) {
        fail('DOCKERFILE_BAD_ARGS', 'FROM requires either one or three arguments');
      }
      const platform = flags.string('platform');
      return { kind, ...base, image: args[0]!, ...(stageName ? { stageName } : {}), ...(platform ? { platform } : {}) };
    }
    case 'RUN':
      return parseRun(node, base);
    case 'CMD':
    case 'ENTRYPOINT': {
      parseFlags(kind, node.flags, NO_FLAGS);
      if (node.rest === '') fail('DOCKERFILE_BAD_ARGS', `${kind} requires at least one argument`);
      return { kind, ...base, command: commandForm(node.rest) };
    }
    case 'LABEL':
    case 'ENV': {
      parseFlags(kind, node.flags, NO_FLAGS);
      const parsed = parseNameValues(node.rest, kind, escape);
      const pairs = parsed.map(({ key, value }) => ({ key, value }));
      const legacy = parsed[0]!.legacy ? { legacyFormat: true as const } : {};
      return kind === 'ENV' ? { kind, ...base, vars: pairs, ...legacy } : { kind, ...base, labels: pairs, ...legacy };
    }
    case 'MAINTAINER':
      return { kind, ...base, maintainer: single(node, kind) };
    case 'EXPOSE': {
      parseFlags(kind, node.flags, NO_FLAGS);
      const ports = splitWhitespace(node.rest);
      if (ports.length === 0) fail('DOCKERFILE_BAD_ARGS', 'EXPOSE requires at least one argument');
      return { kind, ...base, ports: ports.sort() };
    }
    case 'ADD':
      return parseAdd(node, base);
    case 'COPY':
      return parseCopy(node, base);
    case 'VOLUME': {
      parseFlags(kind, node.flags, NO_FLAGS);
      const j = parseJsonArray(node.rest);
      const vols = j.ok ? j.args : splitWhitespace(node.rest);
      if (vols.length === 0) fail('DOCKERFILE_BAD_ARGS', 'VOLUME requires at least one argument');
      const volumes = vols.map((v) => v.trim());
      if (volumes.some((v) => v === '')) fail('DOCKERFILE_BAD_ARGS', 'VOLUME specified can not be an empty string');
      return { kind, ...base, volumes };
    }
    case 'USER':
      return { kind, ...base, user: single(node, kind) };
    case 'WORKDIR':
      return { kind, ...base, path: single(node, kind) };
    case 'STOPSIGNAL':
      return { kind, ...base, signal: single(node, kind) };
    case 'ARG': {
      parseFlags(kind, node.flags, NO_FLAGS);
      const words = parseWords(node.rest, escape);
      if (words.length === 0) fail('DOCKERFILE_BAD_ARGS', 'ARG requires at least one argument');
      const args = words.map((w) => {
        const eq = w.indexOf('=');
        if (eq === 0) fail('DOCKERFILE_BAD_ARGS', 'ARG names can not be blank');
        return eq < 0 ? { key: w } : { key: w.slice(0, eq), value: w.slice(eq + 1) };
      });
      return { kind, ...base, args };
    }
    case 'ONBUILD': {
      parseFlags(kind, node.flags, NO_FLAGS);
      if (!node.sub) fail('DOCKERFILE_BAD_ARGS', 'ONBUILD requires at least one argument');
      const triggerKind = node.sub.cmd.toUpperCase();
      if (triggerKind === 'ONBUILD') fail('DOCKERFILE_BAD_ARGS', "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
      if (triggerKind === 'MAINTAINER' || triggerKind === 'FROM') fail('DOCKERFILE_BAD_ARGS', `${triggerKind} isn't allowed as an ONBUILD trigger`);
      let expression = node.original.replace(/^\s*ONBUILD\s*/i, '');
      for (const h of node.heredocs) expression += '\n' + h.content + h.name;
      const trigger = typeNode({ ...node.sub, heredocs: node.heredocs }, loc, escape);
      return { kind, ...base, expression, trigger };
    }
    case 'SHELL': {
      parseFlags(kind, node.flags, NO_FLAGS);
      const j = parseJsonArray(node.rest);
      if (j.ok && j.args.length === 0) fail('DOCKERFILE_BAD_ARGS', 'SHELL requires at least one argument');
      if (!j.ok) {
        if (node.rest === '') fail('DOCKERFILE_BAD_ARGS', 'SHELL requires at least one argument');
        fail('DOCKERFILE_BAD_ARGS', 'SHELL requires the arguments to be in JSON form');
      }
      return { kind, ...base, shell: j.args };
    }
    case 'HEALTHCHECK':
      return parseHealthcheck(node, base);
    default: {
      const s = suggest(node.keyword, INSTRUCTION_KINDS);
      throw new KilnError('DOCKERFILE_UNKNOWN_INSTRUCTION', `unknown instruction "${node.keyword}"${s ? ` (did you mean ${s}?)` : ''}`);
    }
  }
}
