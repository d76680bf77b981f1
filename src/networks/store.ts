/**
 * Networks of a state root under `<root>/networks/<id>/network.json`, plus the three predefined ones (bridge =
 * kiln0, host, none) that are always listed with ids stable per root. A name is claimed by creating
 * `<root>/networks/names/<name>` with O_EXCL, so two processes creating the same name race safely.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError } from '../errors.js';
import { isPredefined, PREDEFINED, type NetworkRecord, type PredefinedName } from './types.js';

const ID = /^[0-9a-f]{64}$/;
export const NETWORK_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** kiln's default bridge, as bridge.ts sets it up. */
export const DEFAULT_BRIDGE = { subnet: '10.89.0.0/16', gateway: '10.89.0.1', device: 'kiln0' };

export function networksDir(root: string): string {
  return join(root, 'networks');
}

/** A predefined network's id: stable for a root, different between roots (as two dockerds' differ). */
export function predefinedId(root: string, name: PredefinedName): string {
  return createHash('sha256').update(`kiln-network\0${root}\0${name}`).digest('hex');
}

function predefined(root: string, name: PredefinedName): NetworkRecord {
  return {
    Id: predefinedId(root, name),
    Name: name,
    Driver: name === 'bridge' ? 'bridge' : name === 'host' ? 'host' : 'null',
    Created: '0001-01-01T00:00:00Z',
    Scope: 'local',
    EnableIPv6: false,
    IPAM: { Driver: 'default', Options: {}, Config: name === 'bridge' ? [{ Subnet: DEFAULT_BRIDGE.subnet, Gateway: DEFAULT_BRIDGE.gateway }] : [] },
    Internal: false,
    Attachable: false,
    Ingress: false,
    Labels: {},
    Options:
      name === 'bridge'
        ? {
            'com.docker.network.bridge.default_bridge': 'true',
            'com.docker.network.bridge.name': DEFAULT_BRIDGE.device,
            'com.docker.network.driver.mtu': '1500',
          }
        : {},
  };
}

export function newNetworkId(): string {
  return randomBytes(32).toString('hex');
}

export interface NetworkStore {
  /** Predefined first, then user-defined ones by creation time. */
  list(): Promise<NetworkRecord[]>;
  /** By name, full id or unique id prefix (dockerd's order); NETWORK_NOT_FOUND otherwise. */
  get(ref: string): Promise<NetworkRecord>;
  /** Stores a new network; NETWORK_EXISTS when its name is taken. */
  create(rec: NetworkRecord): Promise<void>;
  /** Removes the record and frees its name. */
  remove(rec: NetworkRecord): Promise<void>;
}

export function createNetworkStore(root: string): NetworkStore {
  const dir = networksDir(root);
  const file = (id: string) => join(dir, id, 'network.json');
  const nameFile = (name: string) => join(dir, 'names', name);
  async function read(id: string): Promise<NetworkRecord | undefined> {
    if (!ID.test(id)) return undefined;
    try {
      return JSON.parse(await readFile(file(id), 'utf8')) as NetworkRecord;
    } catch {
      return undefined;
    }
  }
  async function userDefined(): Promise<NetworkRecord[]> {
    const ids = (await readdir(dir).catch(() => [] as string[])).filter((n) => ID.test(n));
    const recs = (await Promise.all(ids.map(read))).filter((r): r is NetworkRecord => Boolean(r));
    return recs.sort((a, b) => a.Created.localeCompare(b.Created));
  }
  async function list(): Promise<NetworkRecord[]> {
    return [...PREDEFINED.map((n) => predefined(root, n)), ...(await userDefined())];
  }
  return {
    list,
    async get(ref) {
      const all = await list();
      const hit = all.find((n) => n.Name === ref) ?? all.find((n) => n.Id === ref);
      if (hit) return hit;
      const byPrefix = ref ? all.filter((n) => n.Id.startsWith(ref)) : [];
      if (byPrefix.length === 1) return byPrefix[0]!;
      if (byPrefix.length > 1) throw new KilnError('INVALID_ARGUMENT', `network ${ref} is ambiguous (${byPrefix.length} matches found based on ID prefix)`);
      throw new KilnError('NETWORK_NOT_FOUND', `network ${ref} not found`);
    },
    async create(rec) {
      if (!NETWORK_NAME.test(rec.Name)) {
        throw new KilnError('INVALID_ARGUMENT', `invalid network name "${rec.Name}"`, { hint: 'names match [a-zA-Z0-9][a-zA-Z0-9_.-]*' });
      }
      if (isPredefined(rec.Name)) throw new KilnError('NETWORK_FORBIDDEN', `${rec.Name} is a pre-defined network and cannot be created`);
      await mkdir(join(dir, 'names'), { recursive: true });
      // A name whose network is gone (a crash between the two writes) is free again.
      for (let attempt = 0; ; attempt++) {
        try {
          await writeFile(nameFile(rec.Name), rec.Id, { flag: 'wx' });
          break;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw nameTaken(rec.Name, err);
          const owner = (await readFile(nameFile(rec.Name), 'utf8').catch(() => '')).trim();
          if (await read(owner)) throw nameTaken(rec.Name, err);
          await unlink(nameFile(rec.Name)).catch(() => {});
        }
      }
      await mkdir(join(dir, rec.Id), { recursive: true });
      const tmp = `${file(rec.Id)}.${process.pid}.tmp`;
      await writeFile(tmp, JSON.stringify(rec, null, 2));
      await rename(tmp, file(rec.Id));
    },
    async remove(rec) {
      await rm(join(dir, rec.Id), { recursive: true, force: true });
      const owner = (await readFile(nameFile(rec.Name), 'utf8').catch(() => '')).trim();
      if (owner === rec.Id) await unlink(nameFile(rec.Name)).catch(() => {});
    },
  };
}

function nameTaken(name: string, cause: unknown): KilnError {
  return new KilnError('NETWORK_EXISTS', `network with name ${name} already exists`, { cause });
}
