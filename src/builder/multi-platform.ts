/**
 * `--platform P1,P2,…`: one solve per platform, all at once, then one image index. The solves share the builder's
 * queue and flight map, so a step with the same key in two solves — every step of a `FROM --platform=$BUILDPLATFORM`
 * stage that does not read TARGET* args — runs once (the other solve joins it or hits its record). Each solve
 * writes its manifest untagged and its rootfs outputs into `<dest>/<os>_<arch>[_<variant>]`, as BuildKit; the
 * index (an OCI index, or a Docker manifest list with `--format docker`) is what gets tagged, archived and pushed.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createLease } from '../cache/lease.js';
import { ownerToken } from '../cache/lock.js';
import { KilnError } from '../errors.js';
import { canonicalJson } from '../image/canonical-json.js';
import { parsePlatform, platformDirName } from '../image/platform.js';
import { normalizeReference } from '../image/reference.js';
import { MediaType, type Descriptor, type Digest, type Index } from '../image/types.js';
import type { Solve } from './builder.js';
import type { BuilderDeps } from './ports.js';
import type { BuildEvent, BuildOptions, BuildResult, OutputSpec } from './types.js';

export interface MultiRequest {
  deps: BuilderDeps;
  opts: BuildOptions;
  platforms: string[];
  solve: Solve;
}

/** The per-platform outputs of `outputs`: rootfs outputs into the platform's directory, nothing else. */
function platformOutputs(outputs: OutputSpec[], platform: string, tarDirs: Map<string, string>): OutputSpec[] {
  const out: OutputSpec[] = [];
  for (const o of outputs) {
    if (o.type === 'local') out.push({ type: 'local', dest: join(o.dest, platformDirName(platform)) });
    if (o.type === 'tar') out.push({ type: 'local', dest: join(tarDirs.get(o.dest)!, platformDirName(platform)), keepOwners: true });
  }
  return out;
}

export async function buildPlatforms(req: MultiRequest): Promise<BuildResult> {
  const { deps, opts, platforms } = req;
  const emit = (e: BuildEvent) => {
    try {
      opts.onEvent?.(e);
    } catch {
      // a renderer's failure must not fail the build
    }
  };
  if (opts.cacheTo?.length) {
    throw new KilnError('INVALID_ARGUMENT', `--cache-to is not supported with several platforms (${platforms.join(',')})`, {
      hint: 'export the cache from one build per platform',
    });
  }
  const outputs: OutputSpec[] = opts.outputs?.length ? opts.outputs : [{ type: 'image' }];
  if (outputs.some((o) => o.type === 'image' && o.store === false)) {
    throw new KilnError('INVALID_ARGUMENT', 'an image output with store=false is not supported with several platforms', {
      hint: 'drop store=false: the index is stored, then pushed',
    });
  }
  const lease = deps.leaseDirs ? createLease(deps.leaseDirs) : undefined;
  // A tar output of several platforms is one tar of the per-platform directories (BuildKit's layout).
  const tarDirs = new Map<string, string>();
  const scratch = join(deps.root, 'tmp', `${ownerToken()}-platforms-${randomBytes(4).toString('hex')}`);
  for (const [i, o] of outputs.entries()) if (o.type === 'tar') tarDirs.set(o.dest, join(scratch, String(i)));
  let stepId = 0;
  let started = false;
  const ctl = new AbortController();
  const onAbort = () => ctl.abort(opts.signal?.reason);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  // The barrier of SolvePart.checked: no platform starts a step before every platform passed its checks.
  let arrived = 0;
  let release!: () => void;
  const allChecked = new Promise<void>((res, rej) => {
    release = res;
    ctl.signal.addEventListener('abort', () => rej(new KilnError('CANCELLED', 'another platform failed')), { once: true });
  });
  allChecked.catch(() => {});
  try {
    const settled = await Promise.allSettled(
      platforms.map((platform) =>
        req
          .solve({ ...opts, platform, tags: [], outputs: platformOutputs(outputs, platform, tarDirs), signal: ctl.signal }, platform, {
            lease,
            nextStepId: () => ++stepId,
            checked: () => {
              if (++arrived === platforms.length) release();
              return allChecked;
            },
            onStart: (e) => {
              if (e.type !== 'build-start' || started) return;
              started = true;
              // Every platform's solve parsed the same file: its graph, relabelled, stands for theirs.
              const graph = e.graph
                ? platforms.flatMap((p) =>
                    e.graph!.map((n) => {
                      const re = (l: string) => (l.startsWith(platform) ? p + l.slice(platform.length) : l);
                      return {
                        ...n,
                        label: re(n.label),
                        platform: n.fixedPlatform ? n.platform : p,
                        base: n.base.startsWith('stage:') ? `stage:${re(n.base.slice(6))}` : n.base,
                        dependsOn: n.dependsOn.map(re),
                      };
                    }),
                  )
                : undefined;
              emit({
                ...e,
                steps: e.steps * platforms.length,
                stages: platforms.flatMap((p) => e.stages.map((s) => `${p} ${s}`)),
                ...(graph ? { graph } : {}),
              });
            },
          })
          .catch((err: unknown) => {
            ctl.abort(new KilnError('CANCELLED', 'another platform failed'));
            throw err;
          }),
      ),
    );
    // Every solve has finished its clean-up; the first real failure is the story, not the others' cancellation.
    const failures = settled.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    if (failures.length) throw failures.find((e) => !(e instanceof KilnError && e.code === 'CANCELLED')) ?? failures[0];
    const results = settled.map((r) => (r as PromiseFulfilledResult<Awaited<ReturnType<Solve>>>).value);
    const format = opts.format ?? 'oci';
    const manifests: Descriptor[] = results.map((r, i) => {
      const p = parsePlatform(platforms[i]!);
      return { ...r.descriptor!, platform: { architecture: p.architecture, os: p.os, ...(p.variant ? { variant: p.variant } : {}) } };
    });
    const index: Index = {
      schemaVersion: 2,
      mediaType: format === 'docker' ? MediaType.DockerManifestList : MediaType.OciIndex,
      manifests,
    };
    const written = await deps.content.writeBuffer(canonicalJson(index), undefined, { lease });
    const indexDesc: Descriptor = { mediaType: index.mediaType!, digest: written.digest, size: written.size };
    const tags = [...new Set([...(opts.tags ?? []), ...outputs.flatMap((o) => (o.type === 'image' ? (o.names ?? []) : []))])];
    for (const out of outputs) {
      if (out.type === 'image') {
        emit({ type: 'export', status: 'writing image index' });
        for (const t of tags) {
          // A rebuild that changed nothing finds the tag on this index already: no index.json rewrite.
          const have = (await deps.images.entries()).find((e) => e.ref !== undefined && e.descriptor.digest === indexDesc.digest && sameRef(e.ref, t));
          if (!have) await deps.images.tag(t, indexDesc);
          emit({ type: 'export', status: `naming to ${t}` });
        }
      } else if (out.type === 'oci' || out.type === 'docker') {
        const { writeIndexArchive } = await import('./archive-output.js');
        await writeIndexArchive(deps, { index: indexDesc, tags, dest: out.dest, kind: out.type, stdout: opts.stdout, signal: ctl.signal }, emit);
      } else if (out.type === 'tar') {
        emit({ type: 'export', status: `writing ${platforms.length} platforms to ${out.dest}` });
        const { writeDirTar } = await import('./archive-output.js');
        await writeDirTar(tarDirs.get(out.dest)!, out.dest, { stdout: opts.stdout, signal: ctl.signal });
      }
    }
    const result: BuildResult = {
      imageId: indexDesc.digest,
      manifestDigest: indexDesc.digest,
      tags,
      stepsExecuted: sum(results.map((r) => r.stepsExecuted)),
      stepsCached: sum(results.map((r) => r.stepsCached)),
      stepsShared: sum(results.map((r) => r.stepsShared)),
      platforms: results.map((r, i) => ({ platform: platforms[i]!, imageId: r.imageId, manifestDigest: r.manifestDigest as Digest })),
    };
    emit({ type: 'build-done', result });
    return result;
  } catch (err) {
    if (opts.signal?.aborted && !(err instanceof KilnError)) throw new KilnError('CANCELLED', 'build cancelled', { cause: err });
    throw err;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    await lease?.release().catch(() => {});
    if (tarDirs.size) await import('./rootfs.js').then((m) => m.removeUnlessMounted(scratch)).catch(() => false);
  }
}

function sum(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

/** Whether a stored (full) reference is the tag `t` names. */
function sameRef(stored: string, t: string): boolean {
  try {
    return stored === normalizeReference(t);
  } catch {
    return false;
  }
}
