/**
 * The life of one filesystem step (RUN, COPY, ADD, WORKDIR): compute its key, reuse a cache record if one
 * exists, otherwise explain the miss, execute it once (flight map) on a fresh snapshot, turn its upper dir into
 * a layer and record the result. A failed step records nothing.
 */
import { readdir } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { slotId, type CacheRecord, type StepInputs } from '../cache/build-cache.js';
import { inStep, phase } from '../cache/profile.js';
import type { Mount } from '../cache/types.js';
import { KilnError } from '../errors.js';
import type { HistoryEntry } from '../image/types.js';
import { chainId } from '../graph/cache-key.js';
import { keyedOp, stepKey } from '../graph/keys.js';
import type { ExecOp, FileOp } from '../graph/types.js';
import type { BuildContext } from './build-context.js';
import { explainMiss } from './explain.js';
import { runOnce } from './flight.js';
import { HISTORY_COMMENT } from '../graph/image-config.js';
import { anyBlob, applyRecord, type FsState, type StageState } from './state.js';
import { holdRemoteRecord, materialize, noteResult, remoteHit } from './cache-transfer.js';
import type { StepRef } from './types.js';

/** What a step hands to the runner. */
export interface StepDef {
  step: StepRef;
  /**
   * The graph's op for this step (graph/instruction-op.ts): its `def` is what the key is made of; `meta` (text,
   * location, stage) is for people and explanations only.
   */
  op: Pick<ExecOp, 'kind' | 'def' | 'meta'> | Pick<FileOp, 'kind' | 'def' | 'meta'>;
  /** Named content digests (COPY sources, `--from` stage identities). */
  inputs?: Record<string, string>;
  files?: Record<string, string>;
  /** When the first key misses: content-based inputs to try a second key with (COPY --from a rebuilt stage). */
  contentInputs?: () => Promise<{ inputs: Record<string, string>; files?: Record<string, string> }>;
  /** The history line (`RUN /bin/sh -c make # buildkit`). */
  history: string;
  /**
   * Does the work on a prepared rootfs. `mounts` are the snapshotter's; the step mounts or hands them on.
   * `previous` is the closest earlier record of this step (for incremental work), when there is one.
   */
  execute(rootfs: { mounts: Mount[]; activeKey: string }, signal: AbortSignal, previous?: { key: string; inputs: StepInputs }): Promise<void>;
  /** Removes files the runtime created for mounts, before the diff (RUN). */
  cleanup?(upperDir: string, lowerDirs: () => Promise<string[]>): Promise<void>;
  /**
   * `COPY --link`: the step's layer does not depend on what is below it, so its key leaves the parent out and
   * its record applies on any parent (BuildKit's rebase: a new base image does not re-run it).
   */
  independent?: boolean;
  /** Stage position for explain slots. */
  stageKey: string;
  position: number;
}

/** The committed snapshot of `fs`, unpacking its layers if needed (never called on a full cache hit). */
export async function ensureSnapshot(ctx: BuildContext, fs: FsState): Promise<string | undefined> {
  const snap = ctx.deps.snapshotter;
  if (fs.layers.length === 0) return undefined;
  if (fs.snapshot && (await snap.stat(fs.snapshot))?.kind === 'committed') return fs.snapshot;
  // Layers that hit in an imported cache arrive now, when a rootfs is really needed.
  await materialize(ctx, fs.layers);
  const key = await snap.ensureImage(
    fs.layers.map((l) => ({ descriptor: anyBlob(l), diffId: l.diffId })),
    { signal: ctx.signal },
  );
  fs.snapshot = key;
  return key;
}

async function hasBlobs(ctx: BuildContext, rec: CacheRecord): Promise<boolean> {
  const blobs = Object.values(rec.result.layer?.blobs ?? {});
  if (!rec.result.layer) return true;
  for (const d of blobs) if (d && (await ctx.deps.content.has(d.digest))) return true;
  return false;
}

/** Lower dirs of a record's snapshot, when the step ran in this process (not persisted: paths are local facts). */
const recordLowers = new WeakMap<CacheRecord, string[]>();

async function isEmptyDir(dir: string): Promise<boolean> {
  return (await readdir(dir)).length === 0;
}

/**
 * Waits for every step's blob store and cache record still in flight (`ctx.durable`); throws the first failure.
 * Called before anything names the build's layers durably (the image, a cache export).
 */
export async function settleDurable(ctx: BuildContext): Promise<void> {
  await Promise.all([...ctx.durable]);
}

/**
 * An executed step: its record, usable at once by the stage that ran it, and `durable`, which settles when the
 * record's layer blob is fsynced and published and the record itself written (in that order: a record never
 * names a blob that is not in the store, even after a crash).
 */
interface Executed {
  rec: CacheRecord;
  durable: Promise<void>;
}

async function execute(
  ctx: BuildContext,
  st: StageState,
  def: StepDef,
  key: string,
  inputs: StepInputs,
  extraKeys: string[],
  previous?: { key: string; inputs: StepInputs },
): Promise<Executed> {
  const snap = ctx.deps.snapshotter;
  const parent = await phase('snapshot.parent', () => ensureSnapshot(ctx, st.fs));
  const active = `active-${randomBytes(8).toString('hex')}`;
  const mounts = await phase('snapshot.prepare', () => snap.prepare(active, parent));
  let committed = false;
  try {
    await phase('step.execute', () => def.execute({ mounts, activeKey: active }, ctx.signal, previous));
    ctx.signal.throwIfAborted();
    const info = await snap.stat(active);
    if (!info) throw new KilnError('INTERNAL', `snapshot ${active} vanished during ${def.step.text}`);
    // The parent's overlay lower dirs, top first: known from the previous step of this stage when it ran here,
    // else asked of the snapshotter (a walk of the whole chain). Only stub clean-up needs them.
    let lowers: Promise<string[]> | undefined;
    const parentLowers = () =>
      (lowers ??= st.fs.lowerDirs && st.fs.snapshot === parent ? Promise.resolve(st.fs.lowerDirs) : parent ? snap.lowerDirs(parent) : Promise.resolve([]));
    if (def.cleanup) await phase('step.stub-cleanup', () => def.cleanup!(info.dir, parentLowers));
    let result: CacheRecord['result'];
    let blobStored: Promise<void> = Promise.resolve();
    if (await phase('diff.empty-check', () => isEmptyDir(info.dir))) {
      result = { chainId: st.fs.chainId, snapshot: parent };
    } else {
      const layer = await phase('layer.write', () =>
        ctx.deps.layers.writeLayer(info.dir, {
          compression: ctx.compression,
          sourceDateEpoch: ctx.sourceDateEpoch,
          lease: ctx.lease,
          // The digests are all the next step needs; the blob's fsync and publish overlap with it.
          deferDurable: true,
          signal: ctx.signal,
        }),
      );
      if (layer.durable) blobStored = layer.durable;
      const chain = chainId([...st.fs.layers.map((l) => l.diffId), layer.diffId]);
      // Named by its ChainID, as the snapshotter names unpacked image layers: one snapshot per distinct rootfs,
      // whether it was built here or unpacked from a pulled image. A name committed first by someone else wins.
      const name = chain;
      try {
        await phase('snapshot.commit', () => snap.commit(name, active));
      } catch (err) {
        await blobStored.catch(() => {});
        throw err;
      }
      committed = true;
      result = { chainId: chain, snapshot: name, layer: { diffId: layer.diffId, size: layer.size, blobs: { [ctx.compression]: layer.descriptor } } };
    }
    const rec: CacheRecord = { key, created: new Date().toISOString(), inputs, result };
    // Off the step's path (the next step runs meanwhile): timed as its own phase, not part of the step's time.
    const durable = blobStored.then(async () => {
      await phase('cache.put.deferred', () => Promise.all([key, ...extraKeys].map((k) => ctx.cache.put({ ...rec, key: k }))));
    });
    durable.catch(() => {}); // surfaced by settleDurable (the build) and by the flight (builds that joined)
    ctx.durable.add(durable);
    if (lowers) {
      const below = await lowers;
      const top = result.layer && result.snapshot ? (await snap.stat(result.snapshot))?.dir : undefined;
      recordLowers.set(rec, top ? [top, ...below] : below);
    }
    return { rec, durable };
  } finally {
    if (!committed) await snap.remove(active).catch(() => {});
  }
}

/**
 * Runs (or reuses) one filesystem step on `st` and advances `st.fs`; appends its history entry. Counts it in
 * `ctx.stats` (executed, cached, or shared with a concurrent identical step) and emits step-start, step-cached | step-miss-reason + step-done.
 */
export function runStep(ctx: BuildContext, st: StageState, def: StepDef): Promise<void> {
  return inStep(`${def.step.id} ${def.step.text}`, () => phase('step.total', () => stepOnce(ctx, st, def)));
}

async function stepOnce(ctx: BuildContext, st: StageState, def: StepDef): Promise<void> {
  const { step } = def;
  ctx.signal.throwIfAborted();
  const started = Date.now();
  ctx.emit({ type: 'step-start', step });
  const epoch: Record<string, string> = ctx.sourceDateEpoch === undefined ? {} : { epoch: String(ctx.sourceDateEpoch) };
  const parentId = def.independent ? '' : st.fs.chainId;
  const keyOf = (inputs: Record<string, string> | undefined) => stepKey(def.op, parentId, { ...inputs, ...epoch }, st.platform ?? ctx.platform);
  let key = keyOf(def.inputs);
  // The record keeps the keyed op plus its text: the text only names a changed instruction in explanations.
  let inputs: StepInputs = {
    op: { ...keyedOp(def.op), text: def.op.meta.text },
    parent: parentId,
    parentDesc: def.independent ? undefined : st.fs.desc,
    inputs: def.inputs,
    files: def.files,
  };
  const extraKeys: string[] = [];
  const noCache = ctx.opts.noCache === true;
  let rec = noCache ? undefined : await phase('cache.get', () => ctx.cache.get(key));
  if (rec && !(await hasBlobs(ctx, rec))) rec = undefined;
  // Missed here: an imported cache (--cache-from) may have it. Asked before the content key below, which
  // would unpack the source stage (and fetch its layers) only to compute a digest.
  let remote: Awaited<ReturnType<typeof remoteHit>>;
  if (!rec && !noCache && ctx.remote) remote = await remoteHit(ctx, key);
  if (!rec && !remote && def.contentInputs) {
    // The cheap key (stage identity) missed: try the content of what is read, so a rebuilt stage that produced
    // the same files still hits (BuildKit's content-based cache for COPY --from).
    const c = await def.contentInputs();
    extraKeys.push(key);
    key = keyOf(c.inputs);
    inputs = { ...inputs, inputs: c.inputs, files: c.files };
    rec = noCache ? undefined : await ctx.cache.get(key);
    if (rec && !(await hasBlobs(ctx, rec))) rec = undefined;
    if (rec) await ctx.cache.put({ ...rec, key: extraKeys[0]! });
    else if (!noCache && ctx.remote) remote = await remoteHit(ctx, key);
  }
  // One platform of several has slots of its own: sharing them, the platforms would overwrite each other's at
  // every build, and a miss would be explained against another platform's record.
  const where = ctx.part ? [ctx.dockerfileId, ctx.part.label, def.stageKey] : [ctx.dockerfileId, def.stageKey];
  const slots = [slotId(...where, 'text', def.op.meta.text), slotId(...where, 'pos', String(def.position))];
  const desc = `step ${step.id}: ${step.text}`;
  const keys = [key, ...extraKeys];
  if (rec) {
    noteResult(ctx, st, keys, rec);
    st.fs = applyRecord(st.fs, rec, desc, def.independent);
    st.keys.push(key);
    ctx.stats.cached++;
    ctx.emit({ type: 'step-cached', step, result: rec.key });
    await phase('cache.slots', () => ctx.cache.setSlots(slots, rec!.key));
  } else if (remote) {
    // The chain ID after the step is known only here: the record is completed before it is kept or applied.
    const r = remote.rec;
    r.key = key;
    r.inputs = inputs;
    const applied = applyRecord(st.fs, { ...r, result: { ...r.result, chainId: 'pending' } }, desc, def.independent);
    const chain = r.result.layer ? chainId(applied.layers.map((l) => l.diffId)) : st.fs.chainId;
    r.result.chainId = chain;
    rec = r;
    noteResult(ctx, st, keys, rec);
    st.fs = r.result.layer ? { ...applied, chainId: chain, snapshot: undefined, lowerDirs: undefined } : { ...st.fs, desc };
    st.keys.push(key);
    for (const k of keys) holdRemoteRecord(ctx, { ...r, key: k });
    ctx.stats.cached++;
    ctx.stats.remote++;
    ctx.emit({ type: 'step-cached', step, source: remote.source, result: rec.key });
    await ctx.cache.setSlots(slots, rec.key);
  } else {
    const before = noCache ? undefined : await phase('cache.explain', () => ctx.cache.fromSlots(slots));
    const why = noCache ? 'cache disabled (--no-cache)' : explainMiss(inputs, before?.inputs);
    const imported = ctx.remote && !noCache ? await ctx.remote.names() : [];
    ctx.emit({ type: 'step-miss-reason', step, reason: imported.length ? `${why} (missed the local cache and ${imported.join(', ')})` : why });
    const frozen = st;
    // Asked again under the key: an identical step may have been stored since the lookup above. Running it again
    // would give the same files a second record with another time, and identical builds two image IDs.
    const once = await runOnce(ctx.flight, key, {
      lookup: async () => {
        const stored = noCache ? undefined : await ctx.cache.get(key);
        return stored && (await hasBlobs(ctx, stored)) ? stored : undefined;
      },
      execute: () => ctx.limit(() => execute(ctx, frozen, def, key, inputs, extraKeys, before)).then(({ rec: value, durable }) => ({ value, durable })),
      signal: ctx.signal,
    });
    rec = once.value;
    noteResult(ctx, st, keys, rec);
    st.fs = applyRecord(st.fs, rec, desc, def.independent);
    st.keys.push(key);
    const lowerDirs = recordLowers.get(rec);
    if (lowerDirs) st.fs.lowerDirs = lowerDirs;
    await phase('cache.slots', () => ctx.cache.setSlots(slots, rec!.key));
    if (once.outcome === 'ran') {
      ctx.stats.executed++;
      const bytes = rec.result.layer?.blobs[ctx.compression]?.size;
      ctx.emit({ type: 'step-done', step, durationMs: Date.now() - started, result: rec.key, ...(bytes !== undefined ? { bytes } : {}) });
    } else if (once.outcome === 'stored') {
      ctx.stats.cached++;
      ctx.emit({ type: 'step-cached', step, result: rec.key });
    } else {
      // The same step was running for another stage or build: it ran once, this one reuses its result. Counted
      // apart from cache hits so the dedup shows (the event stays step-cached: the renderers show CACHED).
      ctx.stats.shared++;
      ctx.emit({ type: 'step-cached', step, result: rec.key, shared: true });
    }
  }
  const entry: HistoryEntry = { created: ctx.sourceDateEpoch !== undefined ? ctx.created : rec.created, created_by: def.history, comment: HISTORY_COMMENT };
  if (!rec.result.layer) entry.empty_layer = true;
  st.cfg.image.history = [...(st.cfg.image.history ?? []), entry];
}
