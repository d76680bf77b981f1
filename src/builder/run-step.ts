/**
 * RUN: the command (shell form through the stage's SHELL, exec form as given, heredocs handed to the shell),
 * the environment (ENV plus the ARGs in scope; proxy args reach the process but not the key), USER, WORKDIR,
 * `--network` and `--mount`s, executed in a runc sandbox on a fresh snapshot. A non-zero exit fails the build
 * with the stage, step, `Dockerfile:line`, the exit code and the last lines of output.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { Writable } from 'node:stream';
import { KilnError } from '../errors.js';
import type { ContainerMount } from '../sandbox/types.js';
import { absoluteMounts, execCommand } from '../graph/ops.js';
import type { ExecOp } from '../graph/types.js';
import type { RunInstruction } from '../parser/types.js';
import type { BuildContext } from './build-context.js';
import { PROXY_VARS } from '../graph/cache-key.js';
import { checkRunEntitlements } from './entitlements.js';
import { removeMountStubs, RUNTIME_STUBS } from './mount-stubs.js';
import { mountInputs, prepareMounts, cacheMountDirId } from './run-mounts.js';
import { runStep } from './step-runner.js';
import type { StageState } from './state.js';
import type { StepRef } from './types.js';

const TAIL_LINES = 12;

/** What a RUN executes: its argv and, for a lone `#!` heredoc, the script file BuildKit mounts at /dev/pipes/. */
export interface RunCommand {
  argv: string[];
  /** Written to a scratch dir (mode 0755) and bind-mounted read-only at its path's directory for the step. */
  file?: { path: string; content: string; mode: number };
}

/**
 * The command of a RUN: exec form as given, else the stage's SHELL with the script. Heredocs as BuildKit runs
 * them (the parser's heredocRunScript): a lone `RUN <<EOF` body is the script, and one starting with `#!` is a
 * program of its own, run from `/dev/pipes/EOF` so the kernel picks its interpreter and `$0` is that path.
 */
export function runCommand(ins: RunInstruction, shell: string[] | undefined): RunCommand {
  return execCommand(ins.command, ins.heredocs, shell);
}

/** Collects a process stream into step-output events and a tail of its last lines. */
function outputSink(ctx: BuildContext, step: StepRef, stream: 'stdout' | 'stderr', tail: string[]): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      const data = chunk.toString('utf8');
      ctx.emit({ type: 'step-output', step, stream, data });
      const lines = data.split('\n');
      if (tail.length && lines.length) tail[tail.length - 1] += lines.shift()!;
      tail.push(...lines);
      tail.splice(0, Math.max(0, tail.length - TAIL_LINES - 1));
      cb();
    },
  });
}

/**
 * Dispatches one expanded RUN instruction on the stage. `op` is the graph's exec op for it (instructionOp()):
 * the step is keyed by its definition and runs what it says.
 */
export async function runInstruction(
  ctx: BuildContext,
  st: StageState,
  ins: RunInstruction,
  op: Pick<ExecOp, 'kind' | 'def' | 'meta'>,
  step: StepRef,
  stageKey: string,
  position: number,
): Promise<void> {
  // Checked here too (the builder checks every RUN before the first step): a step never runs ungranted.
  checkRunEntitlements(ins, ctx.opts);
  const { args, cwd, user, network } = op.def;
  const command = { argv: args, file: op.def.script };
  // As BuildKit: a relative target is relative to the working directory. Made absolute here, `..` can never climb
  // above the container's `/` (runc, the executor and the stub clean-up all join targets to a root directory).
  const mounts = absoluteMounts(ins.mounts, cwd);
  const keyInputs = await mountInputs(ctx, mounts);
  // Cache mounts travel with an export whether this step runs or hits (a cached build keeps them in the cache).
  // A private one never does (BuildKit: its contents are one user's).
  if (ctx.opts.cacheTo?.length) {
    for (const m of mounts) if (m.type === 'cache' && m.sharing !== 'private') ctx.cacheMountsUsed.add(await cacheMountDirId(ctx, m));
  }
  // The process gets the scope's environment; the key's copy (op.def.env) has the proxy variables removed.
  const runEnv = st.scope.runEnv();
  const proxies = Object.entries(st.scope.proxyEnv()).map(([k, v]) => `${k}=${v}`);
  const shown = ins.command.form === 'exec' ? JSON.stringify(args) : args.join(' ');
  // BuildKit's history prefix: `|N K=V …` for the build args in scope (proxy args excluded).
  const argPairs = st.scope
    .declaredArgs()
    .filter((a) => a.value !== undefined && !PROXY_VARS.has(a.key))
    .map((a) => `${a.key}=${a.value}`);
  const argPrefix = argPairs.length ? `|${argPairs.length} ${argPairs.join(' ')} ` : '';
  await runStep(ctx, st, {
    step,
    op,
    stageKey,
    position,
    inputs: Object.keys(keyInputs).length ? keyInputs : undefined,
    history: `RUN ${argPrefix}${shown} # buildkit`,
    async execute(rootfs, signal) {
      const prepared = await prepareMounts(ctx, mounts);
      const tail: string[] = [];
      const scriptMount = command.file ? await writeScript(ctx, command.file) : undefined;
      try {
        const res = await ctx.deps.executor.run({
          rootfs: rootfs.mounts,
          process: { args, env: [...runEnv, ...proxies, ...prepared.env, ...sshAuthSock(runEnv, prepared.sshAuthSock)], cwd, user: user || undefined },
          mounts: scriptMount ? [...prepared.mounts, scriptMount] : prepared.mounts,
          // `default` is kiln's bridge: a namespace of the step's own with outbound NAT (sandbox/network.ts).
          network,
          extraHosts: ctx.opts.extraHosts,
          // BuildKit's insecure mode: every capability and no seccomp filter; a sandboxed step gets Docker's profile.
          ...(op.def.security === 'insecure' ? { seccomp: 'unconfined' as const, capAdd: ['ALL'] } : {}),
          stdout: outputSink(ctx, step, 'stdout', tail),
          stderr: outputSink(ctx, step, 'stderr', tail),
          signal,
        });
        if (res.exitCode !== 0) {
          const what = `process "${args.join(' ')}" did not complete successfully: ${res.signal ? `killed by ${res.signal}` : `exit code: ${res.exitCode}`}`;
          throw new KilnError('BUILD_STEP_FAILED', what, {
            loc: { file: ins.loc.file, line: ins.loc.line },
            details: {
              stage: step.stage,
              step: step.index,
              total: step.total,
              stepId: step.id,
              instruction: ins.original,
              exitCode: res.exitCode,
              output: tail.filter((l, i) => l !== '' || i < tail.length - 1).slice(-TAIL_LINES),
            },
          });
        }
      } finally {
        await prepared.release();
        if (scriptMount) await rm(scriptMount.source!, { recursive: true, force: true });
      }
    },
    async cleanup(upper, lowers) {
      const scriptDir = command.file ? [posix.dirname(command.file.path)] : [];
      await removeMountStubs(upper, lowers, [...mounts.map((m) => m.target), ...scriptDir, ...RUNTIME_STUBS]);
    },
  });
}

/**
 * Writes a `#!` heredoc's body into the build's scratch dir and returns the read-only bind of its directory
 * (BuildKit mounts a one-file scratch state at /dev/pipes/). The build's tmp dir is removed with the build.
 */
async function writeScript(ctx: BuildContext, file: NonNullable<RunCommand['file']>): Promise<ContainerMount> {
  const dir = join(ctx.tmpDir, `pipes-${randomBytes(6).toString('hex')}`);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const host = join(dir, posix.basename(file.path));
  await writeFile(host, file.content);
  await chmod(host, file.mode); // not through writeFile's mode: the umask would apply
  return { type: 'bind', source: dir, target: posix.dirname(file.path), readonly: true };
}

/** `SSH_AUTH_SOCK=<first ssh mount>` unless the step's environment names an agent already (BuildKit's rule). */
function sshAuthSock(env: string[], target: string | undefined): string[] {
  if (!target || env.some((e) => e.startsWith('SSH_AUTH_SOCK='))) return [];
  return [`SSH_AUTH_SOCK=${target}`];
}
