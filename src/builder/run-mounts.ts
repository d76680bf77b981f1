/**
 * RUN `--mount=` options turned into container mounts: persistent cache directories (by id, with BuildKit's
 * shared/private/locked sharing), bind mounts from the context or a stage, tmpfs, and secrets (files in the
 * build's private tmp dir, never in a layer, a key or the image), and SSH agents (a proxy socket to `--ssh`'s
 * agent). Each prepared mount has a key part (what the cache key may see) and a release function.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { acquireLock } from '../cache/lock.js';
import { KilnError } from '../errors.js';
import { mountAll, unmountAll } from '../sandbox/mount.js';
import type { ContainerMount } from '../sandbox/types.js';
import type { RunMount, StageOrImageRef } from '../parser/types.js';
import type { BuildContext } from './build-context.js';
import { contextForMount } from './filtered-context.js';
import { lstatOrUndefined, resolveInRoot } from './fileops/root-path.js';
import { copyTree } from './copy-tree.js';
import { forwardSshAgent } from './ssh-agent.js';
import { ensureSnapshot } from './step-runner.js';
import { restoreCacheMount } from './cache-transfer.js';
import type { CopySpec } from './ports.js';

/** Per-process bookkeeping for cache mounts: users of each id, and a queue for `sharing=locked`. */
const cacheUsers = new Map<string, number>();
const cacheLocks = new Map<string, Promise<void>>();

export interface PreparedMounts {
  mounts: ContainerMount[];
  /** Extra process environment (secret `env=`). Never part of a key. */
  env: string[];
  /** The first ssh mount's target, for SSH_AUTH_SOCK (the key has the target already). */
  sshAuthSock?: string;
  targets: string[];
  release(): Promise<void>;
}

/** What of a mount enters the cache key (content identities; never secret values or cache contents). */
export async function mountInputs(ctx: BuildContext, mounts: RunMount[]): Promise<Record<string, string>> {
  const inputs: Record<string, string> = {};
  for (const [i, m] of mounts.entries()) {
    // A seeded cache depends on what it is seeded from (BuildKit: the from state is an input of the exec).
    if (m.type === 'cache' && m.from) inputs[`mount${i}`] = await fromIdentity(ctx, m.from);
    if (m.type !== 'bind') continue;
    if (!m.from) {
      const spec: CopySpec = {
        srcRoot: ctx.contextDir,
        fromContext: true,
        ignore: ctx.ignore,
        sources: [m.source],
        heredocs: [],
        dest: '/',
        workdir: '/',
        link: false,
        parents: false,
        exclude: [],
        add: false,
      };
      inputs[`mount${i}`] = (await ctx.deps.fileops.checksum(spec, { signal: ctx.signal })).digest;
    } else {
      inputs[`mount${i}`] = await fromIdentity(ctx, m.from);
    }
  }
  return inputs;
}

/** What a `from=` names, as a key input: a stage's ChainID, or the image reference. */
async function fromIdentity(ctx: BuildContext, from: StageOrImageRef): Promise<string> {
  return from.kind === 'stage' ? (await ctx.stage(from.index)).fs.chainId || 'empty' : from.ref;
}

async function readSecret(ctx: BuildContext, id: string, required: boolean): Promise<Buffer | undefined> {
  const src = ctx.secrets.get(id);
  if (src?.env !== undefined) {
    const v = 'value' in src ? src.value : process.env[src.env];
    if (v !== undefined) return Buffer.from(v);
  } else if (src?.src) {
    try {
      return await readFile(src.src);
    } catch (err) {
      throw new KilnError('SECRET_NOT_FOUND', `secret ${id}: cannot read ${src.src}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
    }
  }
  if (required) throw new KilnError('SECRET_NOT_FOUND', `secret ${id} not found`, { hint: `pass it with --secret id=${id},src=FILE or env=VAR` });
  return undefined;
}

async function lockCache(id: string): Promise<() => void> {
  const prev = cacheLocks.get(id) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((r) => (release = r));
  const chained = prev.then(() => mine);
  cacheLocks.set(id, chained);
  await prev;
  return () => {
    release();
    if (cacheLocks.get(id) === chained) cacheLocks.delete(id);
  };
}

/** Prepares the mounts of one RUN. Call `release()` in a finally. */
export async function prepareMounts(ctx: BuildContext, mounts: RunMount[]): Promise<PreparedMounts> {
  const out: PreparedMounts = { mounts: [], env: [], targets: [], release: async () => {} };
  const releases: Array<() => Promise<void> | void> = [];
  out.release = async () => {
    for (const r of releases.reverse()) await r();
  };
  const scratch = join(ctx.tmpDir, `run-${randomBytes(6).toString('hex')}`);
  releases.push(() => rm(scratch, { recursive: true, force: true }));
  try {
    for (const m of mounts) {
      switch (m.type) {
        case 'cache': {
          // BuildKit keys a seeded cache by its id and its base: another from= (or a rebuilt stage) is another cache.
          const base = m.from ? `\0${await fromIdentity(ctx, m.from)}\0${m.source ?? '/'}` : '';
          const hashed = createHash('sha256')
            .update(m.id + base)
            .digest('hex')
            .slice(0, 32);
          let dir = join(ctx.cache.mountsDir, hashed);
          // New on this root: an imported cache (--cache-from) may hold its contents from another machine.
          if (ctx.remote) await restoreCacheMount(ctx, hashed, dir);
          if (m.from && !(await exists(dir))) await seedCache(ctx, dir, m, scratch, releases);
          // A private cache is never exported (BuildKit: its contents are one user's).
          if (m.sharing !== 'private') ctx.cacheMountsUsed.add(hashed);
          await mkdir(dir, { recursive: true });
          const fresh = (await stat(dir)).uid !== m.uid || ((await stat(dir)).mode & 0o7777) !== m.mode;
          if (fresh) {
            await chmod(dir, m.mode);
            await chown(dir, m.uid, m.gid);
          }
          if (m.sharing === 'locked') {
            // One user at a time: in this process (a queue) and across processes sharing the root (a lock file).
            releases.push(await lockCache(hashed));
            const lock = await acquireLock(join(ctx.deps.root, 'locks', `cache-mount-${hashed}.lock`), { timeoutMs: 3_600_000, signal: ctx.signal });
            releases.push(() => lock.release());
          } else if (m.sharing === 'private' && (cacheUsers.get(hashed) ?? 0) > 0) {
            // In use: BuildKit hands a private user a new directory instead of sharing.
            dir = join(scratch, `cache-${hashed}`);
            await mkdir(dir, { recursive: true, mode: m.mode });
            await chown(dir, m.uid, m.gid);
          }
          cacheUsers.set(hashed, (cacheUsers.get(hashed) ?? 0) + 1);
          releases.push(() => void cacheUsers.set(hashed, (cacheUsers.get(hashed) ?? 1) - 1));
          out.mounts.push({ type: 'bind', source: dir, target: m.target, readonly: m.readonly });
          break;
        }
        case 'tmpfs':
          out.mounts.push({ type: 'tmpfs', target: m.target, options: m.size > 0 ? [`size=${m.size}`] : [] });
          break;
        case 'secret': {
          const data = await readSecret(ctx, m.id, m.required);
          if (!data) break;
          if (m.env) out.env.push(`${m.env}=${data.toString('utf8')}`);
          if (m.hasTarget || !m.env) {
            await mkdir(scratch, { recursive: true, mode: 0o700 });
            const file = join(scratch, `secret-${randomBytes(6).toString('hex')}`);
            await writeFile(file, data, { mode: m.mode });
            await chown(file, m.uid, m.gid);
            out.mounts.push({ type: 'bind', source: file, target: m.target, readonly: true });
          }
          break;
        }
        case 'ssh': {
          const agent = ctx.ssh.get(m.id);
          if (!agent) {
            if (m.required)
              throw new KilnError('SSH_AGENT_NOT_FOUND', `no SSH agent "${m.id}" for --mount=type=ssh,required=true`, {
                hint: m.id === 'default' ? 'pass one with --ssh default (uses SSH_AUTH_SOCK)' : `pass one with --ssh ${m.id}=AGENT_SOCKET`,
              });
            // BuildKit leaves an optional ssh mount out when the client forwards no such agent.
            ctx.emit({ type: 'warning', message: `skipping --mount=type=ssh,id=${m.id}: no --ssh ${m.id} given` });
            continue;
          }
          await mkdir(scratch, { recursive: true, mode: 0o700 });
          const fwd = await forwardSshAgent(m.id, agent.socket, join(scratch, `ssh-${randomBytes(6).toString('hex')}.sock`), m);
          releases.push(() => fwd.close());
          out.mounts.push({ type: 'bind', source: fwd.path, target: m.target, readonly: true });
          // BuildKit: SSH_AUTH_SOCK names the first ssh mount, unless the step's environment sets it.
          out.sshAuthSock ??= m.target;
          break;
        }
        case 'bind': {
          // The context as the build sees it: .dockerignore applies to a bind mount as to COPY (BuildKit).
          const root = m.from ? await mountFromView(ctx, m.from, scratch, releases) : await contextForMount(ctx);
          let src = resolveInRoot(root, m.source);
          // A missing source is the user's mistake, said as BuildKit does; not ENOENT from cp or runc with kiln's paths.
          if (!lstatOrUndefined(src))
            throw new KilnError(
              'COPY_SOURCE_NOT_FOUND',
              `RUN --mount=type=bind: source ${JSON.stringify(m.source)} not found in ${m.from ? m.from.raw : 'the build context'}`,
            );
          if (!m.readonly) {
            // BuildKit: writes to a rw bind mount are discarded; give the step a throwaway copy (a stage's or
            // image's entries keep their owners; the context's are this process's, as fs.cp made them before).
            const copy = join(scratch, `rw-${randomBytes(4).toString('hex')}`);
            await mkdir(scratch, { recursive: true });
            await copyTree(src, copy, {
              owners: m.from !== undefined,
              signal: ctx.signal,
              onSkip: (p, why) =>
                ctx.emit({ type: 'warning', message: `rw bind mount ${m.target}: skipped ${p === src ? 'its source' : relative(src, p)}: ${why}` }),
            });
            src = copy;
          }
          out.mounts.push({ type: 'bind', source: src, target: m.target, readonly: m.readonly });
          break;
        }
      }
      out.targets.push(m.target);
    }
  } catch (err) {
    await out.release();
    throw err;
  }
  return out;
}

async function fromSnapshot(ctx: BuildContext, from: StageOrImageRef): Promise<string | undefined> {
  if (from.kind === 'stage') return ensureSnapshot(ctx, (await ctx.stage(from.index)).fs);
  const img = await ctx.deps.images.resolve(from.ref);
  return ctx.deps.snapshotter.ensureImage(
    img.manifest.layers.map((d, i) => ({ descriptor: d, diffId: img.config.rootfs.diff_ids[i]! })),
    { signal: ctx.signal },
  );
}

/** Mounts a read-only view of a stage's or image's rootfs under `scratch` (an empty dir for an empty stage); unmounted by `releases`. */
async function mountFromView(ctx: BuildContext, from: StageOrImageRef, scratch: string, releases: Array<() => Promise<void> | void>): Promise<string> {
  const view = join(scratch, `view-${randomBytes(4).toString('hex')}`);
  const snapKey = await fromSnapshot(ctx, from);
  await mkdir(view, { recursive: true });
  if (snapKey) {
    const vkey = `view-${randomBytes(8).toString('hex')}`;
    const vm = await ctx.deps.snapshotter.view(vkey, snapKey);
    await mountAll(vm, view);
    releases.push(async () => {
      await unmountAll(view);
      await ctx.deps.snapshotter.remove(vkey).catch(() => {});
    });
  }
  return view;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/**
 * A new cache dir with `from=` starts as a copy of that stage's (or image's) `source` path, as BuildKit's cache
 * mount starts from its base. Copied beside the dir and renamed into place, so a concurrent user never sees a
 * half-seeded cache; when another build seeded it first, that copy wins.
 */
async function seedCache(
  ctx: BuildContext,
  dir: string,
  m: Extract<RunMount, { type: 'cache' }>,
  scratch: string,
  releases: Array<() => Promise<void> | void>,
): Promise<void> {
  const root = await mountFromView(ctx, m.from!, scratch, releases);
  const src = resolveInRoot(root, m.source ?? '/');
  const tmp = `${dir}.seed-${randomBytes(4).toString('hex')}`;
  try {
    const st = await stat(src).catch(() => undefined);
    if (st?.isDirectory())
      await copyTree(src, tmp, {
        owners: true,
        signal: ctx.signal,
        onSkip: (p, why) => ctx.emit({ type: 'warning', message: `cache mount ${m.target} from=${m.from!.raw}: skipped ${relative(src, p)}: ${why}` }),
      });
    else {
      if (st) throw new KilnError('INVALID_ARGUMENT', `cache mount from=${m.from!.raw}: source ${m.source ?? '/'} is not a directory`);
      await mkdir(tmp, { recursive: true });
    }
    await rename(tmp, dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST' && err.code !== 'ENOTEMPTY') throw err;
    });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
