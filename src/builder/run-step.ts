/**
 * RUN: the command (shell form through the stage's SHELL, exec form as given, heredocs handed to the shell),
 * the environment (ENV plus the ARGs in scope; proxy args reach the process but not the key), USER, WORKDIR,
 * `--network` and `--mount`s, executed in a runc sandbox on a fresh snapshot. A non-zero exit fails the build
 * with the stage, step, `Dockerfile:line`, the exit code and the last lines of output.
 */
import { Writable } from 'node:stream';
import { KilnError } from '../errors.js';
import type { RunInstruction } from '../parser/types.js';
import type { BuildContext } from './build-context.js';
import { PROXY_VARS } from './cache-key.js';
import { DEFAULT_SHELL } from './image-config.js';
import { removeMountStubs, RUNTIME_STUBS } from './mount-stubs.js';
import { mountKeyParts, prepareMounts } from './run-mounts.js';
import { runStep } from './step-runner.js';
import type { StageState } from './state.js';
import type { StepRef } from './types.js';

const TAIL_LINES = 12;

/** The argv of a RUN: exec form as given, else the shell with the script (heredoc bodies appended, as a shell reads them). */
export function runArgs(ins: RunInstruction, shell: string[] | undefined): string[] {
  if (ins.command.form === 'exec') return ins.command.args;
  const sh = shell?.length ? shell : DEFAULT_SHELL;
  let script = ins.command.script;
  if (ins.heredocs.length > 0) {
    const only = ins.heredocs[0]!;
    if (ins.heredocs.length === 1 && /^\s*<<-?\s*["']?[A-Za-z0-9_]+["']?\s*$/.test(script)) {
      // A lone `RUN <<EOF`: the body is the script (BuildKit runs a `#!` body with its interpreter).
      const shebang = /^#!\s*(\S+)(.*)\n/.exec(only.content);
      if (shebang) return [shebang[1]!, ...shebang[2]!.trim().split(/\s+/).filter(Boolean), '-c', only.content.slice(shebang[0].length)].filter((a) => a !== '');
      return [...sh, only.content];
    }
    script = `${script}\n${ins.heredocs.map((h) => `${h.content}${h.name}`).join('\n')}`;
  }
  return [...sh, script];
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

/** Dispatches one expanded RUN instruction on the stage. */
export async function runInstruction(ctx: BuildContext, st: StageState, ins: RunInstruction, step: StepRef, stageKey: string, position: number): Promise<void> {
  const cfg = st.cfg.image.config ?? {};
  const args = runArgs(ins, cfg.Shell);
  const env = st.scope.runEnv();
  const network = ins.network ?? ctx.opts.networkMode ?? 'default';
  const keyParts = await mountKeyParts(ctx, ins.mounts);
  const op = {
    kind: 'RUN', text: ins.original, args, env, user: cfg.User ?? '', cwd: cfg.WorkingDir || '/', network,
    mounts: keyParts.op, security: ins.security ?? 'sandbox', extraHosts: ctx.opts.extraHosts ?? [],
  };
  const proxies = Object.entries(st.scope.proxyEnv()).map(([k, v]) => `${k}=${v}`);
  const shown = ins.command.form === 'exec' ? JSON.stringify(args) : args.join(' ');
  // BuildKit's history prefix: `|N K=V …` for the build args in scope (proxy args excluded).
  const argPairs = st.scope.declaredArgs().filter((a) => a.value !== undefined && !PROXY_VARS.has(a.key)).map((a) => `${a.key}=${a.value}`);
  const argPrefix = argPairs.length ? `|${argPairs.length} ${argPairs.join(' ')} ` : '';
  await runStep(ctx, st, {
    step, op, stageKey, position,
    inputs: Object.keys(keyParts.inputs).length ? keyParts.inputs : undefined,
    history: `RUN ${argPrefix}${shown} # buildkit`,
    async execute(rootfs, signal) {
      const prepared = await prepareMounts(ctx, ins.mounts);
      const tail: string[] = [];
      try {
        const res = await ctx.deps.executor.run({
          rootfs: rootfs.mounts,
          process: { args, env: [...env, ...proxies, ...prepared.env], cwd: op.cwd, user: op.user || undefined },
          mounts: prepared.mounts,
          network: network === 'default' ? 'default' : network,
          extraHosts: ctx.opts.extraHosts,
          stdout: outputSink(ctx, step, 'stdout', tail),
          stderr: outputSink(ctx, step, 'stderr', tail),
          signal,
        });
        if (res.exitCode !== 0) {
          const what = `process "${args.join(' ')}" did not complete successfully: ${res.signal ? `killed by ${res.signal}` : `exit code: ${res.exitCode}`}`;
          throw new KilnError('BUILD_STEP_FAILED', what, {
            loc: { file: ins.loc.file, line: ins.loc.line },
            details: { stage: step.stage, step: step.index, total: step.total, stepId: step.id, instruction: ins.original, exitCode: res.exitCode, output: tail.filter((l, i) => l !== '' || i < tail.length - 1).slice(-TAIL_LINES) },
          });
        }
      } finally {
        await prepared.release();
      }
    },
    async cleanup(upper, lowers) {
      await removeMountStubs(upper, lowers, [...ins.mounts.map((m) => m.target), ...RUNTIME_STUBS]);
    },
  });
}
