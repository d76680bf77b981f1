/**
 * Leases: a running process (a build, a pull, an import) declares the blobs it is creating or about to reference,
 * so a concurrent prune never deletes them. A lease is a file `<root>/leases/<owner>-<id>.json`
 * (`{ id, owner, created, digests }`); it dies with its owner process, so a build killed with SIGKILL does not pin
 * blobs forever. Additions happen under the store lock, the same lock prune holds while it marks and sweeps:
 * a digest is either leased before prune marks, or added after prune finished (and the content store then
 * re-publishes the blob if prune removed it).
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Digest } from '../image/types.js';
import { writeFileAtomic } from './atomic-file.js';
import { isOwnerAlive, ownerToken, withLock } from './lock.js';
import type { BlobLease } from './types.js';

/** Name of the lock guarding references (index.json, leases) against a concurrent prune. */
export const STORE_LOCK = 'store';

export interface LeaseDirs {
  leases: string;
  locks: string;
}

/** A held lease. `add` persists before it resolves; `release` removes the file (idempotent). */
export interface Lease extends BlobLease {
  readonly id: string;
  readonly digests: ReadonlySet<Digest>;
  release(): Promise<void>;
}

interface LeaseFile {
  id: string;
  owner: string;
  created: string;
  digests: Digest[];
}

/** Creates an (empty) lease owned by this process. */
export function createLease(dirs: LeaseDirs, opts: { id?: string } = {}): Lease {
  const id = opts.id ?? randomBytes(6).toString('hex');
  const owner = ownerToken();
  const file = join(dirs.leases, `${owner}-${id}.json`);
  const digests = new Set<Digest>();
  const created = new Date().toISOString();
  let released = false;
  return {
    id,
    digests,
    async add(...ds: Digest[]) {
      const fresh = ds.filter((d) => !digests.has(d));
      if (fresh.length === 0 || released) return;
      await withLock(dirs.locks, STORE_LOCK, async () => {
        for (const d of fresh) digests.add(d);
        const body: LeaseFile = { id, owner, created, digests: [...digests] };
        // Not fsynced: a lease only counts while its owner lives, and after a crash none does (a prune drops the
        // file). Atomic still, so a concurrent prune reads the old or the new set, never a torn one.
        await writeFileAtomic(file, JSON.stringify(body), { durable: false });
      });
    },
    async release() {
      if (released) return;
      released = true;
      await rm(file, { force: true });
    },
  };
}

/** Runs `fn` with a fresh lease, released afterwards whatever happens. */
export async function withLease<T>(dirs: LeaseDirs, fn: (lease: Lease) => Promise<T>): Promise<T> {
  const lease = createLease(dirs);
  try {
    return await fn(lease);
  } finally {
    await lease.release();
  }
}

/**
 * Digests held by live leases. Lease files of dead owners are deleted (call it under the store lock, as prune
 * does). Unreadable files count as live for a minute (a writer may be between create and rename).
 */
export async function liveLeasedDigests(leasesDir: string): Promise<Set<Digest>> {
  const out = new Set<Digest>();
  let names: string[] = [];
  try {
    names = await readdir(leasesDir);
  } catch {
    return out;
  }
  for (const name of names) {
    if (!name.endsWith('.json') || name.startsWith('.')) continue;
    const owner = name.slice(0, name.indexOf('-'));
    const path = join(leasesDir, name);
    if (!isOwnerAlive(owner)) {
      await rm(path, { force: true });
      continue;
    }
    try {
      const body = JSON.parse(await readFile(path, 'utf8')) as LeaseFile;
      for (const d of body.digests ?? []) out.add(d);
    } catch {
      // Replaced atomically, so a parse failure means a foreign file; ignore it.
    }
  }
  return out;
}
