/**
 * An offline base image: Debian's static busybox (`/bin/busybox` from busybox-static) in an otherwise empty root,
 * with applet symlinks (`/bin/sh`, `/bin/ls`, …), `/etc/passwd`, `/etc/group`, `/etc/nsswitch.conf`, `/tmp`
 * (1777) and `/root`. One gzip layer, every header fixed (mtime 0, root-owned except /home/kiln), so the same
 * busybox binary always gives the same digests. Tests and the README's demo build on it without internet.
 */
import { execFileSync } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { canonicalJson } from '../image/canonical-json.js';
import { buildManifest } from '../image/manifest.js';
import { normalizeReference } from '../image/reference.js';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { KilnError } from '../errors.js';
import { DigestStream } from '../image/digest.js';
import { formatPlatform, hostPlatform, normalizePlatform, parsePlatform, platformOf } from '../image/platform.js';
import { isIndexMediaType, MediaType, type Descriptor, type ImageConfig, type Index, type Platform } from '../image/types.js';
import { packTar, type TarInput } from '../tar/writer.js';
import type { ImageRecord } from './image-store.js';
import type { StoreRoot } from './root.js';
import type { IoOptions } from './types.js';

const BUSYBOX_PATH = '/bin/busybox';
const EPOCH = new Date(0);
const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Users of the base image: root, the system users `daemon` and `bin`, `app` (the conformance cases' base has it,
 * with a home directory, and `COPY --chown=app` / `USER app` use it), two unprivileged test users, and nobody.
 */
const BASE_PASSWD =
  [
    'root:x:0:0:root:/root:/bin/sh',
    'daemon:x:1:1:daemon:/usr/sbin:/bin/false',
    'bin:x:2:2:bin:/bin:/bin/false',
    'app:x:100:101:app:/home/app:/bin/sh',
    'kiln:x:1000:1000:kiln test user:/home/kiln:/bin/sh',
    'guest:x:1001:1001:guest:/home/guest:/bin/sh',
    'nobody:x:65534:65534:nobody:/nonexistent:/bin/false',
  ].join('\n') + '\n';

const BASE_GROUP =
  ['root:x:0:', 'daemon:x:1:', 'bin:x:2:', 'wheel:x:10:root', 'app:x:101:', 'staff:x:50:kiln', 'kiln:x:1000:', 'guest:x:1001:', 'nogroup:x:65534:'].join('\n') +
  '\n';

const NSSWITCH = 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\n';

interface Entry {
  name: string;
  type: 'directory' | 'file' | 'symlink';
  mode: number;
  uid?: number;
  gid?: number;
  linkname?: string;
  content?: string;
}

/** Applet paths (`usr/bin/awk`) compiled into the binary, from `busybox --list-full`. */
function appletPaths(busybox: string): string[] {
  const out = execFileSync(busybox, ['--list-full'], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((s) => s.trim().replace(/^\/+/, ''))
    .filter((s) => s && s !== 'bin/busybox');
}

function rootEntries(applets: string[]): Entry[] {
  const dirs: Entry[] = [
    'bin',
    'dev',
    'etc',
    'home',
    'proc',
    'sbin',
    'sys',
    'usr',
    'usr/bin',
    'usr/sbin',
    'usr/local',
    'usr/local/bin',
    'var',
    'var/log',
    'var/run',
  ].map((name) => ({ name, type: 'directory' as const, mode: 0o755 }));
  dirs.push({ name: 'root', type: 'directory', mode: 0o700 });
  dirs.push({ name: 'tmp', type: 'directory', mode: 0o1777 });
  dirs.push({ name: 'var/tmp', type: 'directory', mode: 0o1777 });
  dirs.push({ name: 'home/app', type: 'directory', mode: 0o755, uid: 100, gid: 101 });
  dirs.push({ name: 'home/kiln', type: 'directory', mode: 0o755, uid: 1000, gid: 1000 });
  dirs.push({ name: 'home/guest', type: 'directory', mode: 0o755, uid: 1001, gid: 1001 });
  const files: Entry[] = [
    { name: 'etc/passwd', type: 'file', mode: 0o644, content: BASE_PASSWD },
    { name: 'etc/group', type: 'file', mode: 0o644, content: BASE_GROUP },
    { name: 'etc/nsswitch.conf', type: 'file', mode: 0o644, content: NSSWITCH },
  ];
  const links: Entry[] = [...new Set(applets)].map((name) => ({ name, type: 'symlink' as const, mode: 0o777, linkname: '/bin/busybox' }));
  const known = new Set(dirs.map((d) => d.name));
  for (const l of links) {
    const parent = l.name.split('/').slice(0, -1).join('/');
    if (parent && !known.has(parent)) {
      known.add(parent);
      dirs.push({ name: parent, type: 'directory', mode: 0o755 });
    }
  }
  const byName = (a: Entry, b: Entry) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  return [...dirs.sort(byName), ...files.sort(byName), ...links.sort(byName)];
}

/** Streams the layer tar into the store; returns its (gzip) descriptor and uncompressed diff ID. */
async function writeLayer(
  root: StoreRoot,
  busybox: string,
  opts: IoOptions & { lease: import('./lease.js').Lease; applets?: string[] },
): Promise<{ layer: Descriptor; diffId: string }> {
  const size = (await stat(busybox)).size;
  const entries = rootEntries(opts.applets ?? appletPaths(busybox));
  const header = (e: Entry): TarInput => ({
    name: e.name,
    type: e.type === 'directory' ? 'dir' : e.type,
    mode: e.mode,
    uid: e.uid ?? 0,
    gid: e.gid ?? 0,
    size: e.content !== undefined ? Buffer.byteLength(e.content) : 0,
    uname: '',
    gname: '',
    mtime: 0,
    ...(e.linkname ? { linkname: e.linkname } : {}),
    ...(e.content !== undefined ? { data: Buffer.from(e.content) } : {}),
  });
  // Directories first, then /bin/busybox, then files and links: a stable order means stable digests.
  const ordered: TarInput[] = [
    ...entries.filter((x) => x.type === 'directory').map(header),
    { ...header({ name: 'bin/busybox', type: 'file', mode: 0o755 }), size, source: busybox },
    ...entries.filter((x) => x.type !== 'directory').map(header),
  ];
  const pack = packTar(ordered, { signal: opts.signal });
  const diff = new DigestStream();
  const w = await root.content.writer(opts);
  try {
    await pipeline(pack, diff, createGzip({ level: 6 }), w.stream, { signal: opts.signal });
  } catch (err) {
    await w.abort();
    throw err;
  }
  const blob = await w.commit();
  return { layer: { mediaType: MediaType.OciLayerGzip, digest: blob.digest, size: blob.size }, diffId: diff.digest() };
}

export interface EnsureBusyboxOptions extends IoOptions {
  /** Path of a static busybox binary (default /bin/busybox). */
  busybox?: string;
}

/**
 * Makes sure `tag` (default `busybox:latest`) names an image in the store, building the busybox base image if
 * the tag is missing. Quiet and cheap when it is present. Returns the image and whether it was created.
 * Throws PRECONDITION when /bin/busybox is missing (install Debian's busybox-static).
 */
export async function ensureBusyboxImage(
  root: StoreRoot,
  tag = 'busybox:latest',
  opts: EnsureBusyboxOptions = {},
): Promise<{ image: ImageRecord; created: boolean }> {
  const existing = await root.images.find(tag, opts);
  if (existing) return { image: existing, created: false };
  const busybox = opts.busybox ?? BUSYBOX_PATH;
  if (!(await stat(busybox).catch(() => undefined))) {
    throw new KilnError('PRECONDITION', `${busybox} not found`, { hint: "install Debian's busybox-static (apt-get install busybox-static)" });
  }
  const lease = root.lease();
  try {
    const { layer, diffId } = await writeLayer(root, busybox, { ...opts, lease });
    const p = hostPlatform();
    const config: ImageConfig = {
      architecture: p.architecture,
      os: 'linux',
      ...(p.variant ? { variant: p.variant } : {}),
      created: EPOCH.toISOString(),
      config: { Env: [PATH_ENV], Cmd: ['sh'] },
      rootfs: { type: 'layers', diff_ids: [diffId] },
      history: [{ created: EPOCH.toISOString(), created_by: 'kiln base busybox (static busybox, applet symlinks, /etc/passwd)' }],
    };
    await root.images.writeImage({ config, layers: [layer], format: 'oci', tags: [tag], lease, signal: opts.signal });
  } finally {
    await lease.release();
  }
  return { image: await root.images.resolve(tag, opts), created: true };
}

/** Debian's architecture names for the OCI platforms busybox-static is built for. */
const DEB_ARCH: Record<string, string> = {
  'linux/amd64': 'amd64',
  'linux/arm64': 'arm64',
  'linux/arm/v7': 'armhf',
  'linux/ppc64le': 'ppc64el',
  'linux/s390x': 's390x',
  'linux/riscv64': 'riscv64',
  'linux/386': 'i386',
};

/** Where `scripts/setup.sh` puts the busybox-static .debs of other architectures (`apt-get download`). */
export const DEFAULT_DEB_DIR = '/var/cache/kiln/debs';

export interface BusyboxPlatformsOptions extends IoOptions {
  /** Directory holding `busybox-static_*_<debarch>.deb` (default $KILN_DEB_DIR or /var/cache/kiln/debs). */
  debDir?: string;
  /** The host's static busybox (default /bin/busybox): the host platform's binary and the applet list. */
  busybox?: string;
}

/** The static busybox binary of a foreign platform, unpacked from its Debian package into `tmp`. */
async function foreignBusybox(platform: string, debDir: string, tmp: string): Promise<string> {
  const arch = DEB_ARCH[platform];
  if (!arch)
    throw new KilnError('INVALID_ARGUMENT', `no busybox-static package for platform ${platform}`, { hint: `supported: ${Object.keys(DEB_ARCH).join(', ')}` });
  const names = await readdir(debDir).catch(() => [] as string[]);
  const deb = names
    .filter((n) => n.startsWith('busybox-static_') && n.endsWith(`_${arch}.deb`))
    .sort()
    .at(-1);
  if (!deb) {
    throw new KilnError('PRECONDITION', `no busybox-static package for ${platform} (${arch}) in ${debDir}`, {
      hint: `fetch it: dpkg --add-architecture ${arch} && apt-get update && (cd ${debDir} && apt-get download busybox-static:${arch}) (scripts/setup.sh fetches arm64, armhf, ppc64el and s390x)`,
    });
  }
  const dir = join(tmp, arch);
  await mkdir(dir, { recursive: true });
  execFileSync('dpkg-deb', ['-x', join(debDir, deb), dir]);
  const bin = join(dir, 'bin', 'busybox');
  const st = await lstat(bin).catch(() => undefined);
  if (!st?.isFile()) throw new KilnError('PRECONDITION', `${deb} holds no bin/busybox`);
  return bin;
}

/**
 * Makes `tag` name busybox for each of `platforms`: one platform gives a plain image, several an OCI image index
 * with a `platform` on each manifest (what a multi-platform build's `FROM busybox` picks from). Foreign binaries
 * come from Debian's busybox-static packages in `debDir`; the applet links are the host busybox's (the same
 * Debian source and configuration on every architecture). Idempotent: a tag already covering them is kept.
 */
export async function ensureBusyboxPlatforms(
  root: StoreRoot,
  tag: string,
  platforms: string[],
  opts: BusyboxPlatformsOptions = {},
): Promise<{ descriptor: Descriptor; created: boolean }> {
  const host = formatPlatform(normalizePlatform(hostPlatform()));
  if (platforms.length === 1 && platforms[0] === host) {
    const r = await ensureBusyboxImage(root, tag, opts);
    return { descriptor: r.image.descriptor, created: r.created };
  }
  const existing = (await root.images.entries()).find((e) => e.ref === normalizeReference(tag));
  if (existing && isIndexMediaType(existing.descriptor.mediaType)) {
    const idx = await root.content.readJson<Index>(existing.descriptor.digest, opts);
    const have = new Set(idx.manifests.map((m) => (m.platform ? platformOf(m.platform) : '')));
    if (platforms.every((p) => have.has(p))) return { descriptor: existing.descriptor, created: false };
  }
  const hostBusybox = opts.busybox ?? BUSYBOX_PATH;
  if (!(await stat(hostBusybox).catch(() => undefined))) {
    throw new KilnError('PRECONDITION', `${hostBusybox} not found`, { hint: "install Debian's busybox-static (apt-get install busybox-static)" });
  }
  const applets = appletPaths(hostBusybox);
  const debDir = opts.debDir ?? process.env.KILN_DEB_DIR ?? DEFAULT_DEB_DIR;
  const tmp = await mkdtemp(join(root.tmpDir, 'busybox-'));
  const lease = root.lease();
  try {
    const manifests: Descriptor[] = [];
    for (const platform of platforms) {
      const bin = platform === host ? hostBusybox : await foreignBusybox(platform, debDir, tmp);
      const { layer, diffId } = await writeLayer(root, bin, { ...opts, lease, applets });
      const p = parsePlatform(platform);
      const config: ImageConfig = {
        architecture: p.architecture,
        os: p.os,
        ...(p.variant ? { variant: p.variant } : {}),
        created: EPOCH.toISOString(),
        config: { Env: [PATH_ENV], Cmd: ['sh'] },
        rootfs: { type: 'layers', diff_ids: [diffId] },
        history: [{ created: EPOCH.toISOString(), created_by: 'kiln base busybox (static busybox, applet symlinks, /etc/passwd)' }],
      };
      const c = await root.content.writeBuffer(canonicalJson(config), undefined, { lease });
      const m = buildManifest({ mediaType: MediaType.OciConfig, digest: c.digest, size: c.size }, [layer], 'oci');
      const mb = await root.content.writeBuffer(canonicalJson(m), undefined, { lease });
      const plat: Platform = { architecture: p.architecture, os: p.os, ...(p.variant ? { variant: p.variant } : {}) };
      manifests.push({ mediaType: MediaType.OciManifest, digest: mb.digest, size: mb.size, platform: plat });
    }
    const index: Index = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests };
    const ib = await root.content.writeBuffer(canonicalJson(index), undefined, { lease });
    const descriptor: Descriptor = { mediaType: MediaType.OciIndex, digest: ib.digest, size: ib.size };
    await root.images.tag(tag, descriptor);
    return { descriptor, created: true };
  } finally {
    await lease.release();
    await rm(tmp, { recursive: true, force: true });
  }
}
