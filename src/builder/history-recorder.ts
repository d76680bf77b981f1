/**
 * Writes a build's record (src/history/) from its BuildEvents, for every front end: createBuilder's `build()`
 * wraps the options' `onEvent` with this recorder. The record is written when the build starts, rewritten at most
 * once a second while it runs (so a killed build leaves a record that reads `incomplete`), and once more when it
 * ends; then retention runs. Each step's output goes to its own gzip log as it arrives, whole. A recorder's
 * failure never fails the build: it stops recording.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { hostname, userInfo } from 'node:os';
import { ownerToken } from '../cache/lock.js';
import { isKilnError } from '../errors.js';
import { openStepLog, type StepLogWriter } from '../history/log-writer.js';
import { redactBuildArgs, scrubSecrets } from '../history/redact.js';
import { applyRetention, retentionPolicy } from '../history/retention.js';
import { newRecordId, recordSize, writeRecord, writeRecordDockerfile } from '../history/store.js';
import type { BuildOrigin, BuildRecord, StepRecord } from '../history/types.js';
import type { BuildEvent, BuildOptions, BuildResult, StepRef } from './types.js';

export interface Recorder {
  readonly id: string;
  /** The options with `onEvent` and `onDockerfile` feeding this recorder (then the caller's). */
  wrap(opts: BuildOptions): BuildOptions;
  /** Writes the final record (result or error), closes the logs, applies retention. Never throws. */
  finish(result: BuildResult | undefined, err?: unknown): Promise<void>;
}

const WRITE_EVERY_MS = 1000;
/** Secret files bigger than this are not read to scrub logs with (a secret is a token or a key, not a blob). */
const SCRUB_MAX = 64 * 1024;

/** This process's user and host: the origin of a build nobody said otherwise about. */
export function localOrigin(): BuildOrigin {
  let user: string | undefined;
  try {
    user = userInfo().username;
  } catch {
    user = undefined;
  }
  return { kind: 'local', ...(user ? { user } : {}), uid: process.getuid?.() ?? 0, host: hostname() };
}

/** The values of the build's secrets, to scrub from what the record keeps. */
async function secretValues(opts: BuildOptions): Promise<string[]> {
  const out: string[] = [];
  for (const s of opts.secrets ?? []) {
    if (s.value !== undefined) out.push(s.value);
    else if (s.env !== undefined && process.env[s.env] !== undefined) out.push(process.env[s.env]!);
    if (s.src !== undefined) {
      const data = await readFile(s.src).catch(() => undefined);
      if (data && data.length <= SCRUB_MAX) out.push(data.toString('utf8').trim(), data.toString('utf8'));
    }
  }
  return [...new Set(out)].filter((v) => v.length > 0).sort((a, b) => b.length - a.length);
}

function outputsOf(opts: BuildOptions): { outputs: string[]; pushes: string[] } {
  const outs = opts.outputs?.length ? opts.outputs : [{ type: 'image' as const }];
  const outputs: string[] = [];
  const pushes: string[] = [];
  for (const o of outs) {
    if (o.type === 'image') {
      outputs.push(o.push ? 'image,push=true' : 'image');
      if (o.push) pushes.push(...(opts.tags ?? []), ...(o.names ?? []));
    } else outputs.push(`${o.type}=${o.dest}`);
  }
  return { outputs, pushes };
}

/** Creates the record of a build about to start (status running). */
export async function startRecorder(root: string, opts: BuildOptions, platforms: string[]): Promise<Recorder> {
  const start = Date.now();
  const id = newRecordId(start);
  const secrets = await secretValues(opts);
  const scrub = (t: string) => (secrets.length ? scrubSecrets(t, secrets) : t);
  const rec: BuildRecord = {
    version: 1,
    id,
    status: 'running',
    origin: opts.origin ?? localOrigin(),
    owner: ownerToken(),
    dockerfile: { name: opts.contextDockerfile ?? opts.dockerfile ?? 'Dockerfile', digest: '' },
    ...(opts.target ? { target: opts.target } : {}),
    platforms,
    buildArgs: redactBuildArgs(opts.buildArgs),
    secrets: (opts.secrets ?? []).map((s) => s.id),
    ...(opts.contextDigest ? { contextDigest: opts.contextDigest } : {}),
    tags: [...(opts.tags ?? [])],
    start,
    stages: [],
    steps: [],
    warnings: [],
  };
  await writeRecord(root, rec);
  const steps = new Map<number, StepRecord>();
  const logs = new Map<number, Promise<StepLogWriter | undefined>>();
  let failedStep: { step: StepRef; exitCode?: number } | undefined;
  let broken = false;
  let timer: NodeJS.Timeout | undefined;
  let writing: Promise<void> = Promise.resolve();

  const save = () => {
    if (broken) return writing;
    writing = writing.then(() => writeRecord(root, rec)).catch(() => void (broken = true));
    return writing;
  };
  const dirty = () => {
    if (timer || broken) return;
    timer = setTimeout(() => {
      timer = undefined;
      void save();
    }, WRITE_EVERY_MS);
    timer.unref();
  };
  const stepOf = (ref: StepRef): StepRecord => {
    let s = steps.get(ref.id);
    if (!s) {
      s = {
        id: ref.id,
        stage: ref.stage,
        index: ref.index,
        text: scrub(ref.text),
        kind: /^\s*(\w+)/.exec(ref.text)?.[1]?.toUpperCase() ?? '',
        start: Date.now(),
        status: 'running',
        logBytes: 0,
      };
      if (ref.loc) s.loc = { file: ref.loc.file, line: ref.loc.line };
      steps.set(ref.id, s);
      rec.steps.push(s);
    }
    return s;
  };
  const closeLog = (n: number) => {
    const l = logs.get(n);
    if (l) void l.then((w) => w?.close()).catch(() => {});
  };

  const onEvent = (e: BuildEvent) => {
    if (broken) return;
    switch (e.type) {
      case 'build-start':
        if (e.graph)
          rec.stages = e.graph.map((n) => ({ label: n.label, name: n.name, index: n.index, platform: n.platform, base: n.base, dependsOn: n.dependsOn }));
        break;
      case 'step-start':
        stepOf(e.step);
        break;
      case 'step-cached': {
        const s = stepOf(e.step);
        s.status = e.shared ? 'shared' : 'cached';
        if (!e.shared) s.cache = e.source ? { kind: 'remote', ref: e.source } : { kind: 'local' };
        s.end = Date.now();
        break;
      }
      case 'step-miss-reason':
        stepOf(e.step).missReason = e.reason;
        break;
      case 'step-output': {
        const s = stepOf(e.step);
        const data = scrub(e.data);
        s.logBytes += Buffer.byteLength(data);
        let l = logs.get(s.id);
        if (!l) {
          l = openStepLog(root, id, s.id).catch(() => undefined);
          logs.set(s.id, l);
        }
        void l.then((w) => w?.write(data));
        break;
      }
      case 'step-done': {
        const s = stepOf(e.step);
        s.status = 'executed';
        s.end = Date.now();
        if (e.bytes !== undefined) s.bytesWritten = e.bytes;
        closeLog(s.id);
        break;
      }
      case 'step-error': {
        const s = stepOf(e.step);
        s.status = 'failed';
        s.end = Date.now();
        s.error = scrub(e.message);
        if (e.exitCode !== undefined) s.exitCode = e.exitCode;
        failedStep ??= { step: e.step, ...(e.exitCode !== undefined ? { exitCode: e.exitCode } : {}) };
        closeLog(s.id);
        break;
      }
      case 'warning':
        rec.warnings.push({ message: scrub(e.message), ...(e.loc ? { loc: e.loc } : {}) });
        break;
      case 'pull':
      case 'export':
      case 'build-done':
        return;
    }
    dirty();
  };

  return {
    id,
    wrap(opts) {
      return {
        ...opts,
        onEvent: (e) => {
          try {
            onEvent(e);
          } catch {
            broken = true;
          }
          opts.onEvent?.(e);
        },
        onDockerfile: (df) => {
          if (!rec.dockerfile.digest) {
            rec.dockerfile = { name: df.name, digest: `sha256:${createHash('sha256').update(df.text).digest('hex')}` };
            void writeRecordDockerfile(root, id, df.text).catch(() => {});
          }
          opts.onDockerfile?.(df);
        },
      };
    },
    async finish(result, err) {
      try {
        if (timer) clearTimeout(timer);
        timer = undefined;
        await Promise.all([...logs.values()].map((l) => l.then((w) => w?.close()).catch(() => {})));
        const end = Date.now();
        rec.end = end;
        const cancelled = err !== undefined && isKilnError(err) && err.code === 'CANCELLED' && !failedStep;
        for (const s of rec.steps) {
          if (s.status === 'running') {
            s.status = err === undefined ? 'executed' : 'cancelled';
            s.end = end;
          }
        }
        if (result) {
          const { outputs, pushes } = outputsOf(opts);
          rec.status = 'completed';
          rec.tags = result.tags;
          rec.result = {
            imageId: result.imageId,
            manifestDigest: result.manifestDigest,
            tags: result.tags,
            outputs,
            pushes,
            ...(result.platforms ? { platforms: result.platforms.map((p) => ({ ...p })) } : {}),
            stepsExecuted: result.stepsExecuted,
            stepsCached: result.stepsCached,
            stepsShared: result.stepsShared,
          };
        } else {
          rec.status = cancelled ? 'cancelled' : 'failed';
          const k = isKilnError(err) ? err : undefined;
          const loc = k?.loc ?? failedStep?.step.loc;
          rec.error = {
            message: scrub(err instanceof Error ? err.message : String(err)),
            ...(k ? { code: k.code } : {}),
            ...(failedStep ? { step: failedStep.step.id } : {}),
            ...(loc ? { loc: { file: loc.file, line: loc.line } } : {}),
            ...(failedStep?.exitCode !== undefined ? { exitCode: failedStep.exitCode } : {}),
          };
        }
        await writing;
        broken = false;
        rec.sizeBytes = await recordSize(root, id).catch(() => 0);
        await writeRecord(root, rec);
        await applyRetention(root, opts.historyRetention ?? retentionPolicy(process.env), { quickWithinMs: 60_000 });
      } catch {
        // A record that cannot be written must not change the build's outcome.
      }
    },
  };
}
