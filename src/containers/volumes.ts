/**
 * Named and anonymous volumes under `<root>/volumes/<name>/` (`_data` holds the files, `meta.json` the record),
 * laid out as Docker's local driver. A volume outlives containers; `kiln rm -v` or `--rm` removes anonymous ones.
 */
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError } from '../errors.js';
import { emitEvent } from '../events/events.js';
import { parseDriverOpts } from './volume-opts.js';

export interface VolumeRecord {
  name: string;
  driver: 'local';
  mountpoint: string;
  createdAt: string;
  anonymous: boolean;
  labels: Record<string, string>;
  /** The driver options it was created with (`--opt`), checked by parseDriverOpts; absent or null: none. */
  options?: Record<string, string> | null;
}

export interface VolumeCreateOptions {
  anonymous?: boolean;
  labels?: Record<string, string>;
  /** Only `local` (the default) exists; any other is refused. */
  driver?: string;
  driverOpts?: Record<string, string> | null;
}

export interface VolumeStore {
  /** Creates a volume (idempotent for a name that exists); a random 64-hex name when none is given. */
  create(name?: string, opts?: VolumeCreateOptions): Promise<VolumeRecord>;
  /** Throws VOLUME_NOT_FOUND. */
  inspect(name: string): Promise<VolumeRecord>;
  find(name: string): Promise<VolumeRecord | undefined>;
  list(): Promise<VolumeRecord[]>;
  /** `inUse(name)` says which containers use it; a volume in use is VOLUME_IN_USE unless `force`. */
  remove(name: string, opts?: { force?: boolean }): Promise<void>;
  /** The containers using a volume (short IDs), as `inUse` reports them. */
  users(name: string): Promise<string[]>;
  /** Bytes the volume's files take (its own directory only: a tmpfs or bind volume's files are elsewhere). */
  size(name: string): Promise<number>;
}

/** Refuses a driver other than Docker's built-in `local` (kiln has no volume plugins). */
export function checkVolumeDriver(driver: string | undefined, what = 'volume driver'): void {
  if (driver === undefined || driver === '' || driver === 'local') return;
  throw new KilnError('INVALID_ARGUMENT', `${what} ${JSON.stringify(driver)} is not supported: kiln has only the "local" driver`);
}

/** Bytes of regular files under `dir`, symlinks not followed; what is unreadable counts as 0. */
async function diskUsage(dir: string): Promise<number> {
  let total = 0;
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) total += (await lstat(p).catch(() => undefined))?.size ?? 0;
    }
  };
  await walk(dir);
  return total;
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

export function createVolumeStore(opts: { root: string; inUse?: (name: string) => Promise<string[]> }): VolumeStore {
  const dir = join(opts.root, 'volumes');
  const metaPath = (name: string) => join(dir, name, 'meta.json');

  async function find(name: string): Promise<VolumeRecord | undefined> {
    if (!NAME.test(name)) return undefined;
    try {
      return JSON.parse(await readFile(metaPath(name), 'utf8')) as VolumeRecord;
    } catch {
      return undefined;
    }
  }

  return {
    async create(name, o = {}) {
      const n = name || randomBytes(32).toString('hex');
      if (!NAME.test(n) || n.length > 255)
        throw new KilnError('INVALID_ARGUMENT', `invalid volume name "${n.slice(0, 300)}"`, { hint: 'names match [a-zA-Z0-9][a-zA-Z0-9_.-]+' });
      checkVolumeDriver(o.driver);
      const options = o.driverOpts && Object.keys(o.driverOpts).length ? { ...o.driverOpts } : null;
      parseDriverOpts(options);
      const existing = await find(n);
      if (existing) return existing;
      const rec: VolumeRecord = {
        name: n,
        driver: 'local',
        mountpoint: join(dir, n, '_data'),
        // dockerd's CreatedAt: RFC 3339 in seconds with its zone ("2024-01-02T03:04:05Z").
        createdAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        anonymous: Boolean(o.anonymous),
        labels: o.labels ?? {},
        options,
      };
      await mkdir(rec.mountpoint, { recursive: true });
      // Written last and atomically: a volume without meta.json is an interrupted create.
      const tmp = `${metaPath(n)}.${process.pid}.tmp`;
      await writeFile(tmp, JSON.stringify(rec, null, 2));
      await rename(tmp, metaPath(n));
      emitEvent(opts.root, 'volume', 'create', n, { driver: 'local' });
      return rec;
    },
    async inspect(name) {
      const v = await find(name);
      if (!v) throw new KilnError('VOLUME_NOT_FOUND', `no such volume: ${name}`);
      return v;
    },
    find,
    async list() {
      const names = await readdir(dir).catch(() => [] as string[]);
      const out: VolumeRecord[] = [];
      for (const n of names.sort()) {
        const v = await find(n);
        if (v) out.push(v);
      }
      return out;
    },
    async remove(name, o = {}) {
      await this.inspect(name);
      const users = (await opts.inUse?.(name)) ?? [];
      if (users.length && !o.force) {
        throw new KilnError('VOLUME_IN_USE', `remove ${name}: volume is in use - [${users.join(', ')}]`, { hint: 'remove the containers first (kiln rm)' });
      }
      await rm(join(dir, name), { recursive: true, force: true });
      emitEvent(opts.root, 'volume', 'destroy', name, { driver: 'local' });
    },
    async users(name) {
      return (await opts.inUse?.(name)) ?? [];
    },
    async size(name) {
      const v = await this.inspect(name);
      return diskUsage(v.mountpoint);
    },
  };
}
