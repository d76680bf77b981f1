/**
 * The builder: `createBuilder(deps).build(opts)` turns a context and a Dockerfile into an image. The CLI and the
 * server call the same function. Stages the target needs start at once and run in parallel (a stage waits only
 * where it reads another); steps that execute share a p-queue (default: one per CPU); identical work requested
 * twice at once runs once (a flight map shared by every build of this builder). A failure cancels the rest of
 * the build, tags nothing, and keeps the cache of the steps that finished.
 */
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, posix, resolve } from 'node:path';
import PQueue from 'p-queue';
import { openBuildCache, type CacheRecord } from '../cache/build-cache.js';
import { createLease } from '../cache/lease.js';
import { ownerToken } from '../cache/lock.js';
import { clock, inStep, phase, since } from '../cache/profile.js';
import { KilnError, isKilnError } from '../errors.js';
import { formatPlatform, hostPlatform, normalizePlatform, parsePlatform, parsePlatformList } from '../image/platform.js';
import type { Lease } from '../cache/lease.js';
import type { Descriptor } from '../image/types.js';
import type { ParsedDockerfile } from '../parser/types.js';
import { checkEmulation } from '../sandbox/binfmt.js';
import { parseDockerfile } from '../parser/parse-dockerfile.js';
import type { BuildContext } from './build-context.js';
import { checkRunEntitlements } from './entitlements.js';
import { cacheRegistryClient, exportCaches, startImport } from './cache-transfer.js';
import { exportResult } from './export.js';
import { loadDockerignore, type DockerfileLocation } from './dockerignore.js';
import { readFileInRoot } from './fileops/read-in-root.js';
import { createFlightMap } from './flight.js';
import { queuedRun } from './limit.js';
import type { BuilderDeps } from './ports.js';
import { runStage } from './stage-runner.js';
import { settleDurable } from './step-runner.js';
import type { StageState } from './state.js';
import type { BuildEvent, BuildOptions, BuildResult, StageNode } from './types.js';
import { startRecorder } from './history-recorder.js';

/** What a multi-platform build shares with each of its per-platform solves. */
export interface SolvePart {
  lease?: Lease;
  nextStepId(): number;
  /** Resolves once every platform's solve has parsed and passed its checks (rejects when one failed). */
  checked(): Promise<void>;
  /** This solve's build-start (the multi-platform build emits one for all). */
  onStart(e: BuildEvent): void;
  /** Where this solve's `--cache-to` goes: one cache for every platform (see BuildContext.part). */
  shareCache?: NonNullable<BuildContext['part']>['shareCache'];
}

/** A solve's result; one platform of several also returns its manifest's descriptor and how to write it. */
export type SolveResult = BuildResult & { descriptor?: Descriptor; persist?: () => Promise<void> };

export type Solve = (opts: BuildOptions, platform: string, part?: SolvePart) => Promise<SolveResult>;

/**
 * The platforms the required stages' RUN steps execute on: a stage's `FROM --platform`, else its base stage's,
 * else the target's (as stage-runner.ts decides).
 */
export function runPlatforms(parsed: ParsedDockerfile, target: string): string[] {
  const of = new Map<number, string>();
  const platformOf = (i: number): string => {
    const known = of.get(i);
    if (known) return known;
    const st = parsed.stages[i]!;
    const own = st.platform ? formatPlatform(normalizePlatform(parsePlatform(st.platform))) : undefined;
    const p = own ?? (st.base.kind === 'stage' ? platformOf(st.base.index) : target);
    of.set(i, p);
    return p;
  };
  const out = new Set<string>();
  for (const i of parsed.requiredStages) if (parsed.stages[i]!.instructions.some((x) => x.kind === 'RUN')) out.add(platformOf(i));
  return [...out];
}

export interface Builder {
  /** Builds; throws KilnError (BUILD_STEP_FAILED with `details`, CANCELLED, parse errors with `loc`). */
  build(opts: BuildOptions): Promise<BuildResult>;
}

/** SOURCE_DATE_EPOCH from the options, a build arg, or the environment (seconds, a non-negative integer). */
function sourceDateEpochOf(opts: BuildOptions): number | undefined {
  const raw = opts.sourceDateEpoch ?? opts.buildArgs?.SOURCE_DATE_EPOCH;
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw new KilnError('INVALID_ARGUMENT', `SOURCE_DATE_EPOCH "${raw}" is not a non-negative integer (seconds)`);
  return n;
}

/**
 * Where the Dockerfile is read from, and its text. The rule: a Dockerfile of the context (the default name, or the
 * server's `dockerfile=`) and the ignore files are read inside the context, no-follow (read-in-root.ts); a path
 * the local user passed with `-f` is read from the host as given, since naming a host file is their own choice.
 */
async function readDockerfile(opts: BuildOptions, contextDir: string): Promise<{ text: string; id: string; name: string; location: DockerfileLocation }> {
  if (opts.dockerfile !== undefined && opts.contextDockerfile === undefined) {
    const path = isAbsolute(opts.dockerfile) ? opts.dockerfile : resolve(opts.dockerfile);
    const found = { id: path, name: basename(path), location: { root: dirname(path), path: basename(path) } };
    if (opts.dockerfileText !== undefined) return { text: opts.dockerfileText, ...found };
    try {
      return { text: await readFile(path, 'utf8'), ...found };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new KilnError('DOCKERFILE_NOT_FOUND', `failed to read Dockerfile: ${path}: no such file`, {
          hint: 'pass -f FILE, or run from the directory holding the Dockerfile',
        });
      }
      throw err;
    }
  }
  const rel = opts.contextDockerfile ?? 'Dockerfile';
  const found = { id: join(contextDir, rel), name: posix.basename(rel), location: { root: contextDir, path: rel } };
  if (opts.dockerfileText !== undefined) return { text: opts.dockerfileText, ...found };
  const data = await readFileInRoot(contextDir, rel);
  if (data === undefined) {
    throw new KilnError('DOCKERFILE_NOT_FOUND', `failed to read Dockerfile: ${rel}: no such file in the build context`, {
      hint: 'pass -f FILE, or run from the directory holding the Dockerfile',
    });
  }
  return { text: data.toString('utf8'), ...found };
}

/** Creates a builder over opened stores; `build()` may be called many times, also concurrently. */
export function createBuilder(deps: BuilderDeps): Builder {
  const queue = new PQueue({ concurrency: Math.max(1, deps.concurrency ?? availableParallelism()) });
  const flight = createFlightMap<CacheRecord>();

  async function build(opts: BuildOptions): Promise<BuildResult> {
    const platforms = parsePlatformList(opts.platform);
    // Every front end's build leaves a record (history-recorder.ts), fed by the same events its renderer gets.
    const recorder = opts.history === false ? undefined : await phase('history.start', () => startRecorder(deps.root, opts, platforms)).catch(() => undefined);
    const recorded: BuildOptions = recorder ? recorder.wrap(opts) : opts;
    try {
      let result: BuildResult;
      if (platforms.length === 1) result = await solve(recorded, platforms[0]!);
      else {
        const { buildPlatforms } = await import('./multi-platform.js');
        result = await buildPlatforms({ deps, opts: recorded, platforms, solve });
      }
      await phase('history.finish', async () => recorder?.finish(result));
      return result;
    } catch (err) {
      await recorder?.finish(undefined, err);
      throw err;
    }
  }

  /**
   * One platform's solve: parse with its automatic args, run the stages, export. `part` is set when it is one of
   * a multi-platform build's solves (multi-platform.ts): then it shares that build's lease and step numbers,
   * labels its stages with the platform, and exports only the manifest (and its rootfs outputs).
   */
  async function solve(opts: BuildOptions, platform: string, part?: SolvePart): Promise<SolveResult> {
    const emit = (e: BuildEvent) => {
      try {
        opts.onEvent?.(e);
      } catch {
        // a renderer's failure must not fail the build
      }
    };
    if (opts.signal?.aborted) throw new KilnError('CANCELLED', 'build cancelled');
    const tSolve = clock();
    const contextDir = resolve(opts.contextDir);
    const cst = await stat(contextDir).catch(() => undefined);
    if (!cst?.isDirectory()) {
      throw new KilnError('INVALID_ARGUMENT', `build context ${contextDir} is ${cst ? 'not a directory' : 'missing'}`, {
        hint: 'pass a directory, or - for a tar on stdin',
      });
    }
    const df = await readDockerfile(opts, contextDir);
    opts.onDockerfile?.({ name: df.name, text: df.text });
    const p = parsePlatform(platform);
    const parsed = parseDockerfile(df.text, {
      file: df.name,
      buildArgs: opts.buildArgs,
      target: opts.target,
      platform: { os: p.os, architecture: p.architecture, variant: p.variant },
    });
    for (const w of parsed.warnings) emit({ type: 'warning', message: w.message, loc: w.loc });
    // Refused before any step runs, not after the stages before it were built.
    for (const i of parsed.requiredStages) {
      for (const ins of parsed.stages[i]!.instructions) if (ins.kind === 'RUN') checkRunEntitlements(ins, opts);
    }
    // A foreign platform's RUN needs a binfmt_misc emulator: missing, the build fails now with the fix.
    const runOn = runPlatforms(parsed, platform);
    if (runOn.some((x) => x !== formatPlatform(normalizePlatform(hostPlatform())))) await checkEmulation(runOn);
    // Several platforms start together, once every one of them has passed these checks.
    if (part) await part.checked();
    const epoch = sourceDateEpochOf(opts);
    const ignore = await loadDockerignore(contextDir, df.location);
    const cache = await openBuildCache(deps.root);
    // From here on everything is undone in the finally: the abort listener, the lease, the tmp dir.
    const ctl = new AbortController();
    const onAbort = () => ctl.abort(opts.signal?.reason);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    // Named by this process's owner token, so the root's start-up sweep recognises it once we are gone.
    const tmpDir = join(deps.root, 'tmp', `${ownerToken()}-build-${randomBytes(4).toString('hex')}`);
    await mkdir(tmpDir, { recursive: true });
    const lease = part ? part.lease : deps.leaseDirs ? createLease(deps.leaseDirs) : undefined;
    let stepId = 0;
    const finishers: Array<() => void> = [];
    const stages = new Map<number, Promise<StageState>>();
    const failures: unknown[] = [];
    const ctx: BuildContext = {
      deps,
      opts,
      df: parsed,
      cache,
      signal: ctl.signal,
      emit,
      stats: { executed: 0, cached: 0, shared: 0, remote: 0 },
      platform,
      compression: opts.compression ?? 'gzip',
      sourceDateEpoch: epoch,
      created: new Date(epoch !== undefined ? epoch * 1000 : Date.now()).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      dockerfileId: df.id,
      nextStepId: part ? part.nextStepId : () => ++stepId,
      ...(part ? { part: { label: platform, ...(part.shareCache ? { shareCache: part.shareCache } : {}) } } : {}),
      flight,
      limit: (fn) => queuedRun(queue, fn, ctl.signal),
      lease,
      tmpDir,
      secrets: new Map((opts.secrets ?? []).map((s) => [s.id, s])),
      ssh: new Map((opts.ssh ?? []).map((s) => [s.id, s])),
      contextDir,
      ignore,
      pendingRemote: new Map(),
      fetching: new Map(),
      durable: new Set(),
      results: new Map(),
      cacheMountsUsed: new Set(),
      mountLayers: new Map(),
      registryClient: () => Promise.reject(new Error('unset')),
      onFinish: (fn) => void finishers.push(fn),
      stage(index) {
        let s = stages.get(index);
        if (!s) {
          s = runStage(ctx, index);
          s.catch((err: unknown) => {
            // In the order they happen: the first real failure is the story (a stage that failed because the
            // first one filled the disk, say, fails later and is not).
            if (!(isKilnError(err) && err.code === 'CANCELLED')) failures.push(err);
            ctl.abort(new KilnError('CANCELLED', 'another stage failed'));
          });
          stages.set(index, s);
        }
        return s;
      },
    };
    ctx.registryClient = cacheRegistryClient(ctx);
    ctx.remote = startImport(ctx);
    try {
      (part ? part.onStart : emit)({
        type: 'build-start',
        steps: parsed.requiredStages.reduce(
          (n, i) => n + 1 + parsed.stages[i]!.instructions.filter((x) => ['RUN', 'COPY', 'ADD', 'WORKDIR'].includes(x.kind)).length,
          0,
        ),
        stages: parsed.requiredStages.map((i) => parsed.stages[i]!.name ?? `stage-${i}`),
        instructions: parsed.requiredStages.flatMap((i) => {
          const st = parsed.stages[i]!;
          return [st.from, ...st.instructions].map((x) => ({
            kind: x.kind,
            text: x.original.replace(/\s*\\\n\s*/g, ' ').trim(),
            loc: { file: x.loc.file, line: x.loc.line },
          }));
        }),
        graph: stageGraph(parsed, platform, part ? platform : undefined),
      });
      for (const i of parsed.requiredStages) void ctx.stage(i).catch(() => {});
      let final: StageState;
      since('build.setup', tSolve);
      const tStages = clock();
      try {
        final = await ctx.stage(parsed.targetIndex);
      } catch (err) {
        await Promise.allSettled([...stages.values()]);
        throw failures[0] ?? (await rootCause(err, [...stages.values()]));
      }
      await Promise.allSettled([...stages.values()]);
      since('build.stages', tStages);
      // Every layer the image or a cache export names is in the store before either is written.
      await phase('build.settle-durable', () => settleDurable(ctx));
      const exported = await inStep('export', () => phase('build.export', () => exportResult(ctx, final)));
      await exportCaches(ctx, final);
      // Every step may have hit locally before the imported caches finished loading: their warnings (a missing
      // cache, an image without inline cache) still belong to this build, so it ends once they are known.
      if (ctx.remote) await ctx.remote.names().catch(() => []);
      const result: SolveResult = {
        imageId: exported.configDigest,
        manifestDigest: exported.manifestDigest,
        tags: exported.tags,
        stepsExecuted: ctx.stats.executed,
        stepsCached: ctx.stats.cached,
        stepsShared: ctx.stats.shared,
        ...(ctx.remote
          ? { cacheImport: { hits: ctx.stats.remote, blobsFetched: ctx.remote.stats.blobsFetched, bytesFetched: ctx.remote.stats.bytesFetched } }
          : {}),
      };
      if (exported.descriptor) result.descriptor = exported.descriptor;
      if (exported.persist) result.persist = exported.persist;
      if (!part) emit({ type: 'build-done', result });
      return result;
    } catch (err) {
      // Cancelled only when the caller cancelled: the internal abort that stops sibling stages after a failure is not.
      if (opts.signal?.aborted && !isKilnError(err)) throw new KilnError('CANCELLED', 'build cancelled', { cause: err });
      throw err;
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
      for (const fn of finishers) {
        try {
          fn();
        } catch {
          // closing a client must not mask the build's result
        }
      }
      if (!ctl.signal.aborted) ctl.abort();
      // A failed or cancelled build still lets its blob stores finish (or remove their temp files) under its lease.
      await Promise.allSettled([...ctx.durable]);
      if (!part) await lease?.release().catch(() => {});
      // Not through a mount a step failed to remove (see removeUnlessMounted): the start-up sweep takes it then.
      await import('./rootfs.js').then((m) => m.removeUnlessMounted(tmpDir)).catch(() => false);
    }
  }

  return { build };
}

/**
 * The required stages as the build record's lanes. `prefix`: a multi-platform solve's platform, which its stage
 * labels start with (stage-runner.ts stageLabel).
 */
function stageGraph(parsed: ParsedDockerfile, platform: string, prefix: string | undefined): StageNode[] {
  const label = (i: number) => {
    const st = parsed.stages[i]!;
    const own = st.name ?? (i === parsed.targetIndex ? '' : `stage-${i}`);
    return prefix ? `${prefix}${own ? ` ${own}` : ''}` : own;
  };
  return parsed.requiredStages.map((i) => {
    const st = parsed.stages[i]!;
    const base = st.base.kind === 'scratch' ? 'scratch' : st.base.kind === 'image' ? st.base.ref : `stage:${label(st.base.index)}`;
    return {
      label: label(i),
      name: st.name ?? `stage-${i}`,
      index: i,
      platform: st.platform ? formatPlatform(normalizePlatform(parsePlatform(st.platform))) : platform,
      ...(st.platform ? { fixedPlatform: true } : {}),
      base,
      dependsOn: st.dependsOn.map(label),
    };
  });
}

/** The first real failure among the stages (a CANCELLED caused by another stage's failure is not the story). */
async function rootCause(err: unknown, all: Array<Promise<StageState>>): Promise<unknown> {
  if (!(isKilnError(err) && err.code === 'CANCELLED')) return err;
  for (const p of all) {
    const r = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    if (r && !(isKilnError(r) && r.code === 'CANCELLED')) return r;
  }
  return err;
}
