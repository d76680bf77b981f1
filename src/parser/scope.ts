/**
 * The variables of one stage while the builder dispatches it, with BuildKit's rules:
 *
 * - The environment words are expanded with ("state env") starts as the base image's config Env (plus a default
 *   PATH when it has none), then every ARG that has a value and every ENV is added in Dockerfile order, a later
 *   one replacing an earlier one of the same name. So `ARG V` then `ENV V=x` gives x ("ENV beats ARG"), and
 *   RUN processes get the same list: ARG values reach RUN, but only ENV reaches the image config.
 * - `ARG NAME` takes its value from `--build-arg NAME`, else from a global arg (meta ARG before the first FROM or
 *   an automatic one like TARGETARCH) of that name, else its own default expanded with the state env, else none.
 * - Proxy build args (HTTP_PROXY, https_proxy, …) reach every RUN without a declaration; `proxyEnv()` lists
 *   them apart so the builder keeps them out of cache keys, as BuildKit does.
 * - A stage `FROM` another stage starts from that stage's state: `parent.child()`.
 */
import type { ArgInstruction, EnvInstruction, Instruction, KeyValue } from './types.js';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const PROXY_ARGS = ['http_proxy', 'https_proxy', 'ftp_proxy', 'no_proxy', 'all_proxy'];

export interface StageScopeOptions {
  /** Meta ARG values and automatic platform args (`ParsedDockerfile.globalArgs`). */
  globalArgs: Readonly<Record<string, string>>;
  /** `--build-arg` values (`ParsedDockerfile.buildArgs`). */
  buildArgs?: Readonly<Record<string, string>>;
  /** The base image's config Env (`KEY=VALUE` strings); empty for scratch and for `kiln outline`. */
  baseEnv?: readonly string[];
  /** The Dockerfile's escape character (`ParsedDockerfile.directives.escape`). */
  escape?: '\\' | '`';
  /** Add `PATH=…` to the image env when the base has none (BuildKit does for Linux). Default true. */
  defaultPath?: boolean;
}

/** One stage's variables; see the module comment for the rules. Mutated by `dispatch*`. */
export interface StageScope {
  readonly escape: '\\' | '`';
  readonly globalArgs: Readonly<Record<string, string>>;
  readonly buildArgValues: Readonly<Record<string, string>>;
  /** The variables a word is expanded with now (state env); a live view, copy it to keep a snapshot. */
  env(): ReadonlyMap<string, string>;
  /** Applies an ARG already passed through `expandInstruction` (its values are final). */
  dispatchArg(ins: ArgInstruction): void;
  /** Applies an ENV already passed through `expandInstruction`. */
  dispatchEnv(ins: EnvInstruction): void;
  /** `dispatchArg`/`dispatchEnv` for those kinds, nothing for the others. */
  dispatch(ins: Instruction): void;
  /** Environment of a RUN process, `KEY=VALUE` in order: base env, ARG values and ENV (no proxy args). */
  runEnv(): string[];
  /** The image config's Env: base env and ENV only. */
  imageEnv(): string[];
  /** Proxy build args to add to every RUN (not part of a cache key). */
  proxyEnv(): Record<string, string>;
  /** ARGs declared so far in this stage (and the stages it derives from), with values; for cache keys and history. */
  declaredArgs(): Array<{ key: string; value?: string }>;
  /** The name's value, from the state env. */
  get(name: string): string | undefined;
  /** A scope for a stage built `FROM` this one: same state env, image env and declared args. */
  child(): StageScope;
}

function setEnv(list: string[], key: string, value: string): void {
  const prefix = key + '=';
  const i = list.findIndex((e) => e === key || e.startsWith(prefix));
  if (i >= 0) list[i] = prefix + value;
  else list.push(prefix + value);
}

function keyOf(entry: string): string {
  const i = entry.indexOf('=');
  return i < 0 ? entry : entry.slice(0, i);
}

class Scope implements StageScope {
  /** The state env as a map, kept in step with `state` (hot path: read once per expanded instruction). */
  private readonly lookup = new Map<string, string>();

  constructor(
    readonly escape: '\\' | '`',
    readonly globalArgs: Readonly<Record<string, string>>,
    readonly buildArgValues: Readonly<Record<string, string>>,
    private readonly state: string[],
    private readonly image: string[],
    private readonly args: Array<{ key: string; value?: string }>,
  ) {
    for (const e of state) {
      const i = e.indexOf('=');
      if (i < 0) this.lookup.set(e, '');
      else this.lookup.set(e.slice(0, i), e.slice(i + 1));
    }
  }

  /** A live view: it changes as ARG/ENV are dispatched. Copy it to keep a snapshot. */
  env(): ReadonlyMap<string, string> {
    return this.lookup;
  }

  get(name: string): string | undefined {
    return this.lookup.get(name);
  }

  private set(key: string, value: string): void {
    setEnv(this.state, key, value);
    this.lookup.set(key, value);
  }

  dispatchArg(ins: ArgInstruction): void {
    for (const a of ins.args) {
      if (a.value !== undefined) this.set(a.key, a.value);
      this.args.push({ ...a });
    }
  }

  dispatchEnv(ins: EnvInstruction): void {
    for (const v of ins.vars) {
      this.set(v.key, v.value);
      setEnv(this.image, v.key, v.value);
    }
  }

  dispatch(ins: Instruction): void {
    if (ins.kind === 'ARG') this.dispatchArg(ins);
    else if (ins.kind === 'ENV') this.dispatchEnv(ins);
  }

  runEnv(): string[] {
    return [...this.state];
  }

  imageEnv(): string[] {
    return [...this.image];
  }

  proxyEnv(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const k of Object.keys(this.buildArgValues).sort()) {
      if (PROXY_ARGS.includes(k.toLowerCase())) out[k] = this.buildArgValues[k]!;
    }
    return out;
  }

  declaredArgs(): Array<{ key: string; value?: string }> {
    return this.args.map((a) => ({ ...a }));
  }

  child(): StageScope {
    return new Scope(this.escape, this.globalArgs, this.buildArgValues, [...this.state], [...this.image], this.declaredArgs());
  }
}

/** A fresh scope for a stage whose base is an image (or scratch). */
export function createStageScope(opts: StageScopeOptions): StageScope {
  const image = [...(opts.baseEnv ?? [])];
  if (opts.defaultPath !== false && !image.some((e) => keyOf(e) === 'PATH')) image.push(`PATH=${DEFAULT_PATH}`);
  const state: string[] = [];
  for (const e of image) {
    const i = e.indexOf('=');
    setEnv(state, i < 0 ? e : e.slice(0, i), i < 0 ? '' : e.slice(i + 1));
  }
  return new Scope(opts.escape ?? '\\', { ...opts.globalArgs }, { ...(opts.buildArgs ?? {}) }, state, image, []);
}

/** `KEY=VALUE` list to pairs. */
export function envListToPairs(list: readonly string[]): KeyValue[] {
  return list.map((e) => {
    const i = e.indexOf('=');
    return i < 0 ? { key: e, value: '' } : { key: e.slice(0, i), value: e.slice(i + 1) };
  });
}
