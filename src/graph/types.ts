/**
 * Boundary types of src/graph/: a build as a graph of typed ops, kiln's counterpart of BuildKit's LLB. A parsed
 * Dockerfile becomes sources (image, context, stage, http, git, scratch), exec ops (RUN), file ops (COPY/ADD, the
 * mkdir of WORKDIR) and metadata ops (config changes); the builder solves the filesystem ops of that graph.
 *
 * Every op carries `def` (what it does: the only part that reaches a digest or a cache key) and `meta` (how a
 * person sees it: instruction text, Dockerfile location, stage name), which never does. The graph is plain
 * JSON-serialisable data: `kiln outline --graph` prints it.
 */
import type { MountSharing } from '../parser/types.js';

/** Display facts of an op: never part of its digest or of a cache key. */
export interface OpMeta {
  /** The instruction as a person reads it (continuations joined, spacing collapsed). */
  text: string;
  loc?: { file: string; line: number };
  /** The stage's `AS` name, else `stage-N`. */
  stage: string;
  /** Anything worth showing that is not a fact of the op (e.g. a base image whose config was not read). */
  note?: string;
}

/** Where a `from=` / `--from=` reads: another stage (its result is an input of the op) or an image. */
export type FromDef = { stage: true } | { image: string };

export type SourceDef =
  | { type: 'scratch' }
  /** A base or `--from` image, by reference, for a platform (the resolved manifest digest is a solve-time input). */
  | { type: 'image'; ref: string; platform: string }
  /** The build context. Never its host path: a context means the same on every machine. */
  | { type: 'context' }
  /** An ADD URL; its bytes (or `--checksum`) are a solve-time input. */
  | { type: 'http'; url: string; checksum?: string }
  /** An ADD of a git repository (BuildKit's git source; kiln refuses it when solving, NOT_IMPLEMENTED). */
  | { type: 'git'; url: string }
  /** The result of another stage of this Dockerfile (its op is the source's only input). */
  | { type: 'stage' };

export type MountDef =
  | { type: 'bind'; target: string; source: string; readonly: boolean; from?: FromDef }
  | {
      type: 'cache';
      target: string;
      id: string;
      sharing: MountSharing;
      readonly: boolean;
      mode: number;
      uid: number;
      gid: number;
      from?: FromDef;
      source?: string;
    }
  | { type: 'tmpfs'; target: string; size: number }
  | { type: 'secret'; id: string; target?: string; env?: string; required: boolean }
  | { type: 'ssh'; id: string; target: string; mode: number; uid: number; gid: number };

/** RUN: the process and its sandbox. */
export interface ExecDef {
  /** The argv after SHELL: a RUN command's own text is its definition (as in BuildKit). */
  args: string[];
  /** ENV + ARGs in scope, proxy variables removed. */
  env: string[];
  user: string;
  cwd: string;
  network: 'default' | 'none' | 'host';
  security: 'sandbox' | 'insecure';
  mounts: MountDef[];
  /** `--add-host` names only: as BuildKit, the addresses are blanked (they are facts of the build host). */
  extraHosts: string[];
  /** A `#!` heredoc run as a program: its path, body and mode. */
  script?: { path: string; content: string; mode: number };
}

/** COPY/ADD, as fileops performs it. */
export interface CopyDef {
  action: 'copy' | 'add';
  sources: string[];
  heredocs: Array<{ name: string; content: string; expand: boolean }>;
  dest: string;
  workdir: string;
  chown: string;
  chmod: string;
  link: boolean;
  parents: boolean;
  exclude: string[];
  /** Where the sources are read: the context, another stage's result, or an image (never a stage's name). */
  from: 'context' | FromDef;
  /** ADD only. */
  checksum?: string;
  unpack?: boolean | null;
  keepGitDir?: boolean;
}

/** WORKDIR's directory creation, owned by the USER in effect (BuildKit's mkdir with llb.WithUser). */
export interface MkdirDef {
  action: 'mkdir';
  path: string;
  user: string;
}

/** A config change: the instruction's expanded fields, never its text. */
export interface MetaDef {
  instruction: string;
  [field: string]: unknown;
}

interface OpCommon {
  /** Unique in its graph; stable for one Dockerfile (`s<stage>.<n>`), not part of any digest. */
  id: string;
  /** Ids of the ops this one reads, in order: the rootfs it runs on first, then stages/sources it reads. */
  inputs: string[];
  /**
   * sha256 over the canonical JSON of `def`, the inputs' digests and the platform: the op's identity in the
   * graph, the same on any machine. A step's cache key (graph/keys.ts) is made from the same `def`.
   */
  digest: string;
  meta: OpMeta;
}

export interface SourceOp extends OpCommon {
  kind: 'source';
  def: SourceDef;
}
export interface ExecOp extends OpCommon {
  kind: 'exec';
  def: ExecDef;
}
export interface FileOp extends OpCommon {
  kind: 'file';
  def: CopyDef | MkdirDef;
}
export interface MetadataOp extends OpCommon {
  kind: 'meta';
  def: MetaDef;
}

export type Op = SourceOp | ExecOp | FileOp | MetadataOp;
/** The ops a step of the builder executes and caches. */
export type FsOp = ExecOp | FileOp;

export interface GraphStage {
  index: number;
  /** Display only (renaming a stage changes no digest). */
  name?: string;
  platform: string;
  /** The op the stage starts from (a source). */
  base: string;
  /** The stage's ops in Dockerfile order (filesystem and metadata). */
  ops: string[];
  /** The last filesystem op: the stage's rootfs. */
  result: string;
}

export interface Graph {
  version: 1;
  platform: string;
  /** Index of the target stage. */
  target: number;
  /** Only the stages the target needs, in dependency order. */
  stages: GraphStage[];
  ops: Op[];
}
