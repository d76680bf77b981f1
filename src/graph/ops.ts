/**
 * The definitions of ops, from expanded instructions and the stage's state at that point. One function per op
 * kind, used both by buildGraph() (the whole Dockerfile ahead of solving) and by the builder's step modules
 * (while solving), so a step is keyed by exactly the op the graph shows. Pure: no I/O, no host facts.
 */
import { posix } from 'node:path';
import { heredocRunScript } from '../parser/heredoc.js';
import type { AddInstruction, CommandForm, CopyInstruction, Heredoc, RunMount, StageInstruction, StageOrImageRef } from '../parser/types.js';
import { stripProxyEnv } from './cache-key.js';
import { DEFAULT_SHELL } from './image-config.js';
import type { CopyDef, ExecDef, FromDef, MetaDef, MkdirDef, MountDef } from './types.js';

/** What a `from=` reads, as a definition: a stage by its result (an input of the op, never its name), or an image. */
export function fromDef(ref: StageOrImageRef): FromDef {
  return ref.kind === 'stage' ? { stage: true } : { image: ref.ref };
}

/**
 * `--add-host` entries without their addresses, as BuildKit blanks them in the ExecOp's cache key: the address is
 * a fact of the build host's network, the name is what the step may depend on. Accepts hosts-file lines
 * (`IP NAME [ALIAS…]`, what `kiln build` passes) and `NAME:IP` (the Engine API's `extrahosts`).
 */
export function extraHostNames(entries: readonly string[]): string[] {
  return entries.map((e) => {
    const t = e.trim();
    if (/\s/.test(t)) return t.split(/\s+/).slice(1).join(' ');
    const i = t.search(/[:=]/);
    return i < 0 ? t : t.slice(0, i);
  });
}

/** A RUN's mounts made absolute: as BuildKit, a relative target is relative to the working directory. */
export function absoluteMounts(mounts: readonly RunMount[], cwd: string): RunMount[] {
  return mounts.map((m) => (m.target.startsWith('/') ? m : { ...m, target: posix.join('/', cwd || '/', m.target) }));
}

/** `o` without its undefined members: the graph is plain data, the same before and after a JSON round trip. */
function compact<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** The key-relevant fields of each mount: ids, targets, modes, never a secret's value or an agent's socket path. */
export function mountDefs(mounts: readonly RunMount[]): MountDef[] {
  return mounts.map((m) => compact(mountDef(m)));
}

function mountDef(m: RunMount): MountDef {
  {
    switch (m.type) {
      case 'cache':
        return {
          type: 'cache',
          target: m.target,
          id: m.id,
          sharing: m.sharing,
          readonly: m.readonly,
          mode: m.mode,
          uid: m.uid,
          gid: m.gid,
          from: m.from && fromDef(m.from),
          source: m.from ? m.source : undefined,
        };
      case 'tmpfs':
        return { type: 'tmpfs', target: m.target, size: m.size };
      case 'secret':
        return { type: 'secret', id: m.id, target: m.hasTarget ? m.target : undefined, env: m.env, required: m.required };
      case 'ssh':
        return { type: 'ssh', id: m.id, target: m.target, mode: m.mode, uid: m.uid, gid: m.gid };
      case 'bind':
        return { type: 'bind', target: m.target, source: m.source, readonly: m.readonly, from: m.from && fromDef(m.from) };
    }
  }
}

/**
 * What a RUN executes: exec form as given, else the stage's SHELL with the script; heredocs as BuildKit runs them
 * (a lone `#!` body is a program of its own at /dev/pipes/NAME).
 */
export function execCommand(
  command: CommandForm,
  heredocs: readonly Heredoc[],
  shell: readonly string[] | undefined,
): { argv: string[]; file?: ExecDef['script'] } {
  if (command.form === 'exec') return { argv: command.args };
  return heredocRunScript(command.script, heredocs, shell?.length ? shell : DEFAULT_SHELL);
}

export interface ExecInput {
  argv: string[];
  script?: ExecDef['script'];
  /** ENV + ARGs in scope (proxy variables are removed here). */
  env: readonly string[];
  user: string;
  cwd: string;
  network: ExecDef['network'];
  security: ExecDef['security'];
  /** Already absolute (absoluteMounts). */
  mounts: readonly RunMount[];
  extraHosts: readonly string[];
}

export function execDef(i: ExecInput): ExecDef {
  return {
    args: [...i.argv],
    env: stripProxyEnv([...i.env]),
    user: i.user,
    cwd: i.cwd || '/',
    network: i.network,
    security: i.security,
    mounts: mountDefs(i.mounts),
    extraHosts: extraHostNames(i.extraHosts),
    ...(i.script ? { script: i.script } : {}),
  };
}

/** COPY/ADD as fileops performs it; the sources' content is a solve-time input, not part of the definition. */
export function copyDef(ins: CopyInstruction | AddInstruction, workdir: string): CopyDef {
  return {
    action: ins.kind === 'ADD' ? 'add' : 'copy',
    sources: [...ins.sources],
    heredocs: ins.heredocs.map((h) => ({ name: h.name, content: h.content, expand: h.expand })),
    dest: ins.dest,
    workdir: workdir || '/',
    chown: ins.chown ?? '',
    chmod: ins.chmod ?? '',
    link: ins.link,
    parents: ins.parents,
    exclude: [...ins.exclude],
    from: ins.fromRef ? fromDef(ins.fromRef) : 'context',
    ...(ins.kind === 'ADD' ? { checksum: ins.checksum ?? '', unpack: ins.unpack ?? null, keepGitDir: ins.keepGitDir } : {}),
  };
}

export function mkdirDef(path: string, user: string): MkdirDef {
  return { action: 'mkdir', path, user };
}

/**
 * A metadata instruction's definition: its expanded, typed fields (never `original` or `loc`). Legacy-form flags
 * are lint facts, not config facts, and stay out too.
 */
export function metaDef(ins: StageInstruction): MetaDef {
  const rest: Record<string, unknown> = { ...ins };
  // `original` and `loc` are display facts; legacy-form flags are lint facts; an ONBUILD's parsed trigger repeats
  // its text (stored as such in the config) with locations.
  for (const k of ['kind', 'loc', 'original', 'legacyFormat', 'trigger']) delete rest[k];
  return compact({ instruction: ins.kind, ...rest });
}

/** The text a person reads for an instruction: continuations joined, runs of blanks collapsed. */
export function displayText(original: string): string {
  return original
    .replace(/\s*\\\n\s*/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}
