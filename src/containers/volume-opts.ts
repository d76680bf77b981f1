/**
 * The driver options of Docker's `local` volume driver (`docker volume create --opt type=… --opt device=… --opt
 * o=…`), checked when a volume is created so a bad option fails then, not at the first container's start. kiln
 * implements two of the local driver's kinds: a tmpfs (`type=tmpfs,device=tmpfs,o=size=64m,uid=1000,mode=1777`),
 * mounted afresh for each container that mounts the volume, and a bind of a host directory
 * (`type=none,o=bind,device=/path`). Other filesystem types (nfs, ext4, a block device) are refused: mounting a
 * device the server's clients name is not something a sandboxed daemon should do.
 */
import { isAbsolute, normalize } from 'node:path';
import { KilnError } from '../errors.js';

/** What a volume's driver options make of it when a container mounts it. */
export type VolumeBacking = { kind: 'directory' } | { kind: 'tmpfs'; options: string[] } | { kind: 'bind'; device: string; readonly: boolean };

/** The local driver's option keys (moby volume/local: type, device, o; `size` is XFS quota only, not offered). */
const KEYS = ['type', 'device', 'o'];
/** tmpfs mount data kiln passes on (mount(8) tmpfs): sizes, ownership, mode, inode limits, and the safe flags. */
const TMPFS_VALUED = new Set(['size', 'uid', 'gid', 'nr_inodes', 'nr_blocks']);
/**
 * Why `mode=` is refused: runc (1.1) chmods a tmpfs's root back to the mode of the directory it is mounted on, and
 * kiln creates that directory, so a mode given here would show in /proc/mounts and not on the directory.
 */
export const TMPFS_MODE_REFUSAL = "a tmpfs mode is not supported: runc resets a tmpfs's mode to its mount point's";
const TMPFS_FLAGS = new Set(['noexec', 'exec', 'nosuid', 'nodev', 'ro', 'rw']);

const invalid = (msg: string, hint?: string) => new KilnError('INVALID_ARGUMENT', msg, hint ? { hint } : undefined);

/** `64m`, `1g`, `100k`, `50%`, `4096`: tmpfs's size syntax. */
function checkSize(v: string): void {
  if (!/^\d+[kmgKMG]?$|^\d{1,3}%$/.test(v) || /^0+[kmgKMG%]?$/.test(v)) throw invalid(`invalid tmpfs size ${JSON.stringify(v)}`, 'e.g. size=64m');
}

/**
 * Checks driver options and says what the volume is. Throws INVALID_ARGUMENT naming the option: an unknown key
 * (as dockerd's "invalid option key"), a type kiln does not mount, a malformed tmpfs option, a bind without an
 * absolute device.
 */
export function parseDriverOpts(opts: Record<string, string> | null | undefined): VolumeBacking {
  const o = opts ?? {};
  for (const [k, v] of Object.entries(o)) {
    if (!KEYS.includes(k)) throw invalid(`invalid option key: ${JSON.stringify(k)}`, 'the local driver takes type, device and o');
    if (typeof v !== 'string') throw invalid(`invalid option ${k}: the value must be a string`);
  }
  const type = o.type ?? '';
  const device = o.device ?? '';
  const mountOpts = (o.o ?? '').split(',').filter((s) => s !== '');
  if (type === '' && device === '' && mountOpts.length === 0) return { kind: 'directory' };
  if (type === 'tmpfs') {
    if (device !== '' && device !== 'tmpfs') throw invalid(`invalid option device=${device}: a tmpfs volume's device is "tmpfs"`);
    for (const opt of mountOpts) {
      const eq = opt.indexOf('=');
      const [key, value] = eq < 0 ? [opt, undefined] : [opt.slice(0, eq), opt.slice(eq + 1)];
      if (value === undefined) {
        if (!TMPFS_FLAGS.has(key))
          throw invalid(`invalid tmpfs option ${JSON.stringify(opt)}`, `kiln passes ${[...TMPFS_VALUED].join(', ')}=… and ${[...TMPFS_FLAGS].join(', ')}`);
        continue;
      }
      if (key === 'mode') throw new KilnError('NOT_IMPLEMENTED', `invalid tmpfs option ${JSON.stringify(opt)}: ${TMPFS_MODE_REFUSAL}`);
      if (!TMPFS_VALUED.has(key))
        throw invalid(`invalid tmpfs option ${JSON.stringify(opt)}`, `kiln passes ${[...TMPFS_VALUED].join(', ')}=… and ${[...TMPFS_FLAGS].join(', ')}`);
      if (key === 'size') checkSize(value);
      else if (!/^\d{1,10}[kmgKMG]?$/.test(value)) throw invalid(`invalid tmpfs option ${JSON.stringify(opt)}: a number is expected`);
    }
    return { kind: 'tmpfs', options: mountOpts };
  }
  if (type === 'none') {
    if (!mountOpts.includes('bind') && !mountOpts.includes('rbind'))
      throw invalid('invalid options: type=none needs o=bind', 'e.g. --opt type=none --opt o=bind --opt device=/srv/data');
    const bad = mountOpts.filter((m) => !['bind', 'rbind', 'ro', 'rw'].includes(m));
    if (bad.length) throw invalid(`invalid bind option ${JSON.stringify(bad[0])}`, 'kiln takes bind, rbind, ro and rw');
    if (!isAbsolute(device)) throw invalid(`invalid option device=${JSON.stringify(device)}: a bind needs an absolute host path`);
    return { kind: 'bind', device: normalize(device), readonly: mountOpts.includes('ro') };
  }
  if (type === '') throw invalid('invalid options: device and o need type', 'type=tmpfs, or type=none with o=bind');
  throw invalid(`volume type ${JSON.stringify(type)} is not supported by kiln`, "kiln's local driver mounts type=tmpfs and binds (type=none,o=bind)");
}
