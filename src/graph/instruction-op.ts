/**
 * The filesystem op of one expanded RUN, COPY, ADD or WORKDIR, given the stage's config and scope at that point.
 * buildGraph() and the builder's stage runner both call it, so the op a step is keyed by is the graph's op.
 */
import type { ConfigState } from './image-config.js';
import type { AddInstruction, CopyInstruction, RunInstruction, WorkdirInstruction } from '../parser/types.js';
import type { StageScope } from '../parser/scope.js';
import { absoluteMounts, copyDef, execCommand, execDef, mkdirDef } from './ops.js';
import type { CopyDef, ExecOp, FileOp, MkdirDef } from './types.js';

export type FsInstruction = RunInstruction | CopyInstruction | AddInstruction | WorkdirInstruction;

export interface InstructionOpState {
  cfg: ConfigState;
  scope: StageScope;
}

export interface InstructionOpOptions {
  /** The build's default network for RUN (`--network`); a RUN's own `--network` wins. */
  networkMode?: 'default' | 'none' | 'host';
  /** `--add-host` entries (their addresses never reach a key). */
  extraHosts?: readonly string[];
}

export function isFsInstruction(ins: { kind: string }): ins is FsInstruction {
  return ins.kind === 'RUN' || ins.kind === 'COPY' || ins.kind === 'ADD' || ins.kind === 'WORKDIR';
}

/**
 * The op's kind and definition. For WORKDIR the config's WorkingDir must already be the resolved path (the
 * stage runner and buildGraph set it first, as Docker applies the config change before the mkdir).
 */
export function instructionOp(ins: RunInstruction, st: InstructionOpState, o: InstructionOpOptions): Pick<ExecOp, 'kind' | 'def'>;
export function instructionOp(ins: CopyInstruction | AddInstruction, st: InstructionOpState, o: InstructionOpOptions): { kind: 'file'; def: CopyDef };
export function instructionOp(ins: WorkdirInstruction, st: InstructionOpState, o: InstructionOpOptions): { kind: 'file'; def: MkdirDef };
export function instructionOp(ins: FsInstruction, st: InstructionOpState, o: InstructionOpOptions): Pick<ExecOp, 'kind' | 'def'> | Pick<FileOp, 'kind' | 'def'>;
export function instructionOp(
  ins: FsInstruction,
  st: InstructionOpState,
  o: InstructionOpOptions,
): Pick<ExecOp, 'kind' | 'def'> | Pick<FileOp, 'kind' | 'def'> {
  const cfg = st.cfg.image.config ?? {};
  const cwd = cfg.WorkingDir || '/';
  switch (ins.kind) {
    case 'RUN': {
      const cmd = execCommand(ins.command, ins.heredocs, cfg.Shell);
      return {
        kind: 'exec',
        def: execDef({
          argv: cmd.argv,
          script: cmd.file,
          env: st.scope.runEnv(),
          user: cfg.User ?? '',
          cwd,
          network: ins.network ?? o.networkMode ?? 'default',
          security: ins.security ?? 'sandbox',
          mounts: absoluteMounts(ins.mounts, cwd),
          extraHosts: o.extraHosts ?? [],
        }),
      };
    }
    case 'COPY':
    case 'ADD':
      return { kind: 'file', def: copyDef(ins, cwd) };
    case 'WORKDIR':
      return { kind: 'file', def: mkdirDef(cwd, cfg.User ?? '') };
  }
}
