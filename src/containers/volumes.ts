/**
 * Named and anonymous volumes under `<root>/volumes/<name>/` (`_data` holds the files, `meta.json` the record),
 * laid out as Docker's local driver. A volume outlives containers; `kiln rm -v` or `--rm` removes anonymous ones.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError } from '../errors.js';

export interface VolumeRecord {
  name: string;
  driver: 'local';
  mountpoint: string;
  createdAt: string;
  anonymous: boolean;
  labels: Record<string, string>;
}

export interface VolumeStore {
  /** Creates a volume (idempotent for a name that exists); a random 64-hex name when none is given. */
  create(name?: string, opts?: { anonymous?: boolean; labels?: Record<string, string> }): Promise<VolumeRecord>;
  /** Throws VOLUME_NOT_FOUND. */
  inspect(name: string): Promise<VolumeRecord>;
  find(name: string): Promise<VolumeRecord | undefined>;
  list(): Promise<VolumeRecord[]>;
  /** `inUse(name)` says which containers use it; a volume in use is VOLUME_IN_USE unless `force`. */
  remove(name: string, opts?: { force?: boolean }): Promise<void>;
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
      const n = name ?? randomBytes(32).toString('hex');
      if (!NAME.test(n)) throw new KilnError('INVALID_ARGUMENT', `invalid volume name "${n}"`, { hint: 'names match [a-zA-Z0-9][a-zA-Z0-9_.-]+' });
      const existing = await find(n);
      if (existing) return existing;
      const rec: VolumeRecord = {
        name: n,
        driver: 'local',
        mountpoint: join(dir, n, '_data'),
        createdAt: new Date().toISOString(),
        anonymous: Boolean(o.anonymous),
        labels: o.labels ?? {},
      };
      await mkdir(rec.mountpoint, { recursive: true });
      // Written last and atomically: a volume without meta.json is an interrupted create.
      const tmp = `${metaPath(n)}.${process.pid}.tmp`;
      await writeFile(tmp, JSON.stringify(rec, null, 2));
      await rename(tmp, metaPath(n));
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
    },
  };
}
