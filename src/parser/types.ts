/**
 * Boundary types of src/parser/: a Dockerfile as typed instructions grouped into stages, the way BuildKit's
 * `instructions` package models it (one struct per instruction), with `kind` as the discriminant so a
 * `switch (ins.kind)` in the builder is checked for exhaustiveness by the compiler.
 *
 * What is expanded when: FROM lines (image, `--platform`, `AS name`) are expanded at parse time with the meta
 * args (ARGs before the first FROM) and the automatic platform args. Everything else keeps its `$VAR` text;
 * the builder expands it at dispatch time with `expandInstruction(ins, scope)` (src/parser/expand-instruction.ts),
 * because a stage's environment includes its base image's ENV, which only the builder knows.
 */

/** Where an instruction is: 1-based lines, `endLine` is the last line of its continuation or heredoc bodies. */
export interface InstructionLoc {
  file: string;
  line: number;
  endLine: number;
}

/** Every Dockerfile keyword kiln knows, upper-case. */
export type InstructionKind =
  | 'FROM'
  | 'RUN'
  | 'CMD'
  | 'ENTRYPOINT'
  | 'LABEL'
  | 'MAINTAINER'
  | 'EXPOSE'
  | 'ENV'
  | 'ADD'
  | 'COPY'
  | 'VOLUME'
  | 'USER'
  | 'WORKDIR'
  | 'ARG'
  | 'ONBUILD'
  | 'STOPSIGNAL'
  | 'HEALTHCHECK'
  | 'SHELL';

interface InstructionBase<K extends InstructionKind> {
  kind: K;
  loc: InstructionLoc;
  /** The instruction's source text, continuation lines joined as written (heredoc bodies not included). */
  original: string;
}

/**
 * A command as written: shell form (`RUN echo hi`, run through the stage's SHELL) or exec form (`RUN ["a","b"]`,
 * the JSON array decoded). Text that is not a valid JSON string array falls back to shell form, as in Docker.
 */
export type CommandForm = { form: 'shell'; script: string } | { form: 'exec'; args: string[] };

/**
 * One here-document (`<<EOF` … `EOF`). `content` is the body with a trailing newline, tabs already stripped
 * for `<<-`. `expand` is false when the delimiter was quoted (`<<'EOF'`, `<<"EOF"`): no variable expansion.
 */
export interface Heredoc {
  name: string;
  content: string;
  expand: boolean;
  /** `<<-`: leading tabs were stripped from every body line (and the delimiter line). */
  stripTabs: boolean;
}

// ---- RUN mounts (BuildKit's `--mount=type=…`). A relative (or empty) target is relative to the workdir. ----

export type MountSharing = 'shared' | 'private' | 'locked';

interface MountCommon {
  /** Where it appears in the container. */
  target: string;
  readonly: boolean;
}

/** `type=bind` (the default): a path from the build context or from `from=` (stage or image), read-only by default. */
export interface BindMount extends MountCommon {
  type: 'bind';
  /** Path inside the source; default `/`. */
  source: string;
  from?: StageOrImageRef;
}

/** `type=cache`: a persistent cache directory keyed by `id` (default: the target). */
export interface CacheMount extends MountCommon {
  type: 'cache';
  id: string;
  sharing: MountSharing;
  /** Seed the cache from a stage/image path. */
  from?: StageOrImageRef;
  source?: string;
  /** File mode of the cache dir (octal number), default 0o755. */
  mode: number;
  uid: number;
  gid: number;
}

/** `type=tmpfs`: an empty tmpfs, `size` in bytes (0 = unlimited). */
export interface TmpfsMount extends MountCommon {
  type: 'tmpfs';
  size: number;
}

/** `type=secret`: a build secret as a file (`target`, default `/run/secrets/<id>`) and/or an env var (`env`). */
export interface SecretMount extends MountCommon {
  type: 'secret';
  id: string;
  /** `env=NAME`: expose the secret as an environment variable (then `target` is only set if given). */
  env?: string;
  /** False when only `env=` was given: no file is mounted. */
  hasTarget: boolean;
  required: boolean;
  mode: number;
  uid: number;
  gid: number;
}

/** `type=ssh`: an SSH agent socket (`target`, default `/run/buildkit/ssh_agent.<n>`). */
export interface SshMount extends MountCommon {
  type: 'ssh';
  id: string;
  required: boolean;
  mode: number;
  uid: number;
  gid: number;
}

export type RunMount = BindMount | CacheMount | TmpfsMount | SecretMount | SshMount;

/**
 * What `--from=` / `from=` names: a stage of this Dockerfile (by name or index, resolved) or an image.
 * `raw` is the text as written (after expansion when the parser could expand it).
 */
export type StageOrImageRef = { kind: 'stage'; index: number; raw: string } | { kind: 'image'; ref: string; raw: string };

// ---- Instructions ----

export interface FromInstruction extends InstructionBase<'FROM'> {
  /** The image reference after meta-arg expansion (`scratch` included as written). */
  image: string;
  /** The `AS` name, lower-cased as BuildKit does. */
  stageName?: string;
  /** `--platform=` after expansion (e.g. `linux/arm64`). */
  platform?: string;
}

export interface RunInstruction extends InstructionBase<'RUN'> {
  command: CommandForm;
  mounts: RunMount[];
  network?: 'default' | 'none' | 'host';
  security?: 'sandbox' | 'insecure';
  /**
   * Here-documents named in the command. With heredocs the command is shell form; the builder runs them like
   * BuildKit: a lone `<<EOF` command runs the body (as a file when it starts with `#!`), otherwise the command
   * line and bodies are handed to the shell together (see `heredocRunScript()` in src/parser/heredoc.ts).
   */
  heredocs: Heredoc[];
  /** Original `--mount` values, needed to re-expand mounts at dispatch (`expandInstruction` re-parses them). */
  mountSpecs: string[];
}

export interface CmdInstruction extends InstructionBase<'CMD'> {
  command: CommandForm;
}

export interface EntrypointInstruction extends InstructionBase<'ENTRYPOINT'> {
  command: CommandForm;
}

export interface KeyValue {
  key: string;
  value: string;
}

export interface LabelInstruction extends InstructionBase<'LABEL'> {
  labels: KeyValue[];
  /** Written in the legacy `LABEL key value` form (a lint warning). */
  legacyFormat?: boolean;
}

export interface MaintainerInstruction extends InstructionBase<'MAINTAINER'> {
  maintainer: string;
}

export interface ExposeInstruction extends InstructionBase<'EXPOSE'> {
  /** As written (`80`, `53/udp`, `8000-8010/tcp`); validated after expansion. */
  ports: string[];
}

export interface EnvInstruction extends InstructionBase<'ENV'> {
  vars: KeyValue[];
  /** Written in the legacy `ENV key value` form (a lint warning). */
  legacyFormat?: boolean;
}

/** Shared by COPY and ADD (BuildKit's SourcesAndDest plus the common flags). */
export interface CopyLikeFields {
  /** Source paths or URLs (ADD), in order; heredoc sources are in `heredocs`. */
  sources: string[];
  /** Inline file sources (`COPY <<EOF /dst`): each becomes a file named `name` in the destination. */
  heredocs: Heredoc[];
  dest: string;
  /** `--from=` as written (expanded at dispatch) and, resolved by the parser, which stage or image it names. */
  from?: string;
  fromRef?: StageOrImageRef;
  chown?: string;
  chmod?: string;
  link: boolean;
  parents: boolean;
  exclude: string[];
}

export interface CopyInstruction extends InstructionBase<'COPY'>, CopyLikeFields {}

export interface AddInstruction extends InstructionBase<'ADD'>, CopyLikeFields {
  /** `--checksum=sha256:…` for an HTTP source (or a git commit for git sources). */
  checksum?: string;
  keepGitDir: boolean;
  /** `--unpack=true|false`; undefined means the default (unpack local archives, not URLs). */
  unpack?: boolean;
}

export interface VolumeInstruction extends InstructionBase<'VOLUME'> {
  volumes: string[];
}

export interface UserInstruction extends InstructionBase<'USER'> {
  user: string;
}

export interface WorkdirInstruction extends InstructionBase<'WORKDIR'> {
  path: string;
}

export interface ArgInstruction extends InstructionBase<'ARG'> {
  /** `ARG a=1 b` declares several. `value` undefined: no default. */
  args: Array<{ key: string; value?: string }>;
}

export interface OnbuildInstruction extends InstructionBase<'ONBUILD'> {
  /** The trigger as written (`RUN echo hi`), stored in the image config's OnBuild list. */
  expression: string;
  /** The trigger parsed (validated at parse time: no ONBUILD, FROM or MAINTAINER inside). */
  trigger: Instruction;
}

export interface StopsignalInstruction extends InstructionBase<'STOPSIGNAL'> {
  signal: string;
}

export interface HealthcheckInstruction extends InstructionBase<'HEALTHCHECK'> {
  /** `HEALTHCHECK NONE` disables the base image's check: `test: ['NONE']`. */
  none: boolean;
  /** Docker's config form: `['CMD-SHELL', script]`, `['CMD', ...args]`, or `['NONE']`. */
  test: string[];
  /** Durations in nanoseconds (the image config's unit); undefined = inherit Docker's default. */
  intervalNs?: number;
  timeoutNs?: number;
  startPeriodNs?: number;
  startIntervalNs?: number;
  retries?: number;
}

export interface ShellInstruction extends InstructionBase<'SHELL'> {
  shell: string[];
}

export type Instruction =
  | FromInstruction
  | RunInstruction
  | CmdInstruction
  | EntrypointInstruction
  | LabelInstruction
  | MaintainerInstruction
  | ExposeInstruction
  | EnvInstruction
  | AddInstruction
  | CopyInstruction
  | VolumeInstruction
  | UserInstruction
  | WorkdirInstruction
  | ArgInstruction
  | OnbuildInstruction
  | StopsignalInstruction
  | HealthcheckInstruction
  | ShellInstruction;

/** The instructions that may appear inside a stage (everything but FROM). */
export type StageInstruction = Exclude<Instruction, FromInstruction>;

// ---- Stages and the parsed file ----

export type StageBase = { kind: 'scratch' } | { kind: 'stage'; index: number } | { kind: 'image'; ref: string };

export interface Stage {
  /** 0-based position in the Dockerfile (the number `COPY --from=0` uses). */
  index: number;
  /** Lower-cased `AS` name. */
  name?: string;
  base: StageBase;
  /** `FROM --platform=` after expansion. */
  platform?: string;
  from: FromInstruction;
  /** The stage's instructions after FROM, in order, unexpanded (`expandInstruction` at dispatch). */
  instructions: StageInstruction[];
  /** From the FROM line to the stage's last instruction. */
  loc: InstructionLoc;
  /** Stage indexes this stage reads from (base, COPY --from, RUN --mount from=), sorted, unique. */
  dependsOn: number[];
}

/** A meta arg: an ARG before the first FROM. */
export interface MetaArg {
  key: string;
  /** The default as written in the Dockerfile (expanded with earlier meta args). */
  default?: string;
  /** The effective value: the build arg if given, else the default; undefined = unset. */
  value?: string;
  loc: InstructionLoc;
}

export interface Directives {
  /** `# syntax=` (a frontend image; kiln records it and ignores it). */
  syntax?: string;
  /** `# escape=`: the escape character, `\` (default) or `` ` ``. */
  escape: '\\' | '`';
  /** `# check=skip=A,B;error=true` as written. */
  check?: { skip: string[]; error: boolean; raw: string };
}

export interface ParseWarning {
  message: string;
  loc?: { file: string; line: number };
  /** BuildKit's lint rule name where one applies (e.g. `MaintainerDeprecated`). */
  rule?: string;
}

export interface ParsedDockerfile {
  file: string;
  directives: Directives;
  metaArgs: MetaArg[];
  /**
   * What FROM lines were expanded with and what a stage's `ARG NAME` (no default, no build arg) inherits:
   * the automatic platform args (TARGETPLATFORM, BUILDARCH, …, TARGETSTAGE) and the meta args with values.
   */
  globalArgs: Record<string, string>;
  /** The `--build-arg` values the file was parsed with. */
  buildArgs: Record<string, string>;
  stages: Stage[];
  /** The stage `--target` named, else the last one. */
  targetIndex: number;
  /** The stages the target needs (itself included), in dependency order (each after the stages it reads). */
  requiredStages: number[];
  warnings: ParseWarning[];
}

/** A platform as `os/arch[/variant]` parts; what TARGET* and BUILD* args are made from. */
export interface PlatformSpec {
  os: string;
  architecture: string;
  variant?: string;
}

export interface ParseOptions {
  /** The name errors and locations use (`Dockerfile`). Default `Dockerfile`. */
  file?: string;
  /** `--build-arg` values; they override ARG defaults. */
  buildArgs?: Record<string, string>;
  /** `--target`: the stage to build (name, case-insensitive). Default: the last stage. */
  target?: string;
  /** The target platform (`--platform`), default the host's. */
  platform?: PlatformSpec;
  /** The build host's platform, default the host's. */
  buildPlatform?: PlatformSpec;
}
