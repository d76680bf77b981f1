/**
 * Foreign-platform RUN steps: which platforms this host can execute, and registering Debian's qemu-user-static
 * interpreters with binfmt_misc. A RUN of a foreign platform needs nothing from kiln at run time: the kernel hands
 * the foreign ELF to the interpreter registered for it. The `F` (fix-binary) flag makes the kernel open the
 * interpreter when it is registered, so it works inside a container's rootfs where `/usr/bin/qemu-*` is absent;
 * a registration without F fails there with ENOENT, so it does not count.
 *
 * Detection does what BuildKit's archutil does: it runs a tiny static binary of that platform (generated here:
 * an ELF whose only instructions are `exit(0)`) and checks that an enabled F registration matches its header.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { KilnError } from '../errors.js';
import { formatPlatform, hostPlatform, normalizePlatform, parsePlatform } from '../image/platform.js';

const run = promisify(execFile);

export const BINFMT_DIR = '/proc/sys/fs/binfmt_misc';
/** Registrations kiln makes are named `kiln-qemu-<arch>`, so it removes only its own. */
export const KILN_PREFIX = 'kiln-qemu-';

interface ArchInfo {
  /** qemu's name (`/usr/bin/qemu-<qemu>-static`, `/usr/lib/binfmt.d/qemu-<qemu>.conf`). */
  qemu: string;
  machine: number;
  bits: 32 | 64;
  big?: boolean;
  flags?: number;
  /** Machine code of `exit(0)`. */
  code: Buffer;
}

const words = (big: boolean, ...ws: number[]) => {
  const b = Buffer.alloc(ws.length * 4);
  ws.forEach((w, i) => (big ? b.writeUInt32BE(w >>> 0, i * 4) : b.writeUInt32LE(w >>> 0, i * 4)));
  return b;
};

/** By OCI architecture (plus variant for arm). */
const ARCHES: Record<string, ArchInfo> = {
  amd64: { qemu: 'x86_64', machine: 62, bits: 64, code: Buffer.from('b83c00000031ff0f05', 'hex') },
  '386': { qemu: 'i386', machine: 3, bits: 32, code: Buffer.from('b80100000031dbcd80', 'hex') },
  arm64: { qemu: 'aarch64', machine: 183, bits: 64, code: words(false, 0xd2800ba8, 0xd2800000, 0xd4000001) },
  arm: { qemu: 'arm', machine: 40, bits: 32, flags: 0x05000400, code: words(false, 0xe3a07001, 0xe3a00000, 0xef000000) },
  riscv64: { qemu: 'riscv64', machine: 243, bits: 64, flags: 0x5, code: words(false, 0x05d00893, 0x00000513, 0x00000073) },
  ppc64le: { qemu: 'ppc64le', machine: 21, bits: 64, flags: 0x2, code: words(false, 0x38000001, 0x38600000, 0x44000002) },
  s390x: { qemu: 's390x', machine: 22, bits: 64, big: true, code: Buffer.from('a72900000a01', 'hex') },
  mips64le: { qemu: 'mips64el', machine: 8, bits: 64, flags: 0x80000007, code: words(false, 0x240213c2, 0x24040000, 0x0000000c) },
};

/** The platforms kiln knows how to emulate (and to test for). */
export const EMULATABLE = Object.keys(ARCHES);

/** A minimal static ELF executable for `a` that exits 0: one header, one PT_LOAD segment, the code. */
export function tinyElf(a: ArchInfo): Buffer {
  const is64 = a.bits === 64;
  const ehsize = is64 ? 64 : 52;
  const phsize = is64 ? 56 : 32;
  const base = 0x400000;
  const total = ehsize + phsize + a.code.length;
  const b = Buffer.alloc(total);
  const u16 = (o: number, v: number) => (a.big ? b.writeUInt16BE(v, o) : b.writeUInt16LE(v, o));
  const u32 = (o: number, v: number) => (a.big ? b.writeUInt32BE(v >>> 0, o) : b.writeUInt32LE(v >>> 0, o));
  const u64 = (o: number, v: number) => (a.big ? b.writeBigUInt64BE(BigInt(v), o) : b.writeBigUInt64LE(BigInt(v), o));
  b.write('\x7fELF', 0, 'latin1');
  b[4] = is64 ? 2 : 1;
  b[5] = a.big ? 2 : 1;
  b[6] = 1;
  u16(16, 2); // ET_EXEC
  u16(18, a.machine);
  u32(20, 1);
  const entry = base + ehsize + phsize;
  if (is64) {
    u64(24, entry);
    u64(32, ehsize); // e_phoff
    u64(40, 0);
    u32(48, a.flags ?? 0);
    u16(52, ehsize);
    u16(54, phsize);
    u16(56, 1);
    u16(58, 64);
    const p = ehsize;
    u32(p, 1); // PT_LOAD
    u32(p + 4, 5); // R+X
    u64(p + 8, 0);
    u64(p + 16, base);
    u64(p + 24, base);
    u64(p + 32, total);
    u64(p + 40, total);
    u64(p + 48, 0x1000);
  } else {
    u32(24, entry);
    u32(28, ehsize);
    u32(32, 0);
    u32(36, a.flags ?? 0);
    u16(40, ehsize);
    u16(42, phsize);
    u16(44, 1);
    u16(46, 40);
    const p = ehsize;
    u32(p, 1);
    u32(p + 4, 0);
    u32(p + 8, base);
    u32(p + 12, base);
    u32(p + 16, total);
    u32(p + 20, total);
    u32(p + 24, 5);
    u32(p + 28, 0x1000);
  }
  a.code.copy(b, ehsize + phsize);
  return b;
}

/** One binfmt_misc registration as /proc/sys/fs/binfmt_misc/<name> shows it. */
export interface BinfmtEntry {
  name: string;
  enabled: boolean;
  interpreter: string;
  flags: string;
  offset: number;
  magic?: Buffer;
  mask?: Buffer;
}

/** The registrations present (none when binfmt_misc is not mounted). */
export async function binfmtEntries(dir = BINFMT_DIR): Promise<BinfmtEntry[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const out: BinfmtEntry[] = [];
  for (const name of names) {
    if (name === 'register' || name === 'status') continue;
    const text = await readFile(join(dir, name), 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    const field = (k: string) => new RegExp(`^${k}[: ]\\s*(.*)$`, 'm').exec(text)?.[1]?.trim();
    const hex = (k: string) => {
      const v = field(k);
      return v ? Buffer.from(v, 'hex') : undefined;
    };
    out.push({
      name,
      enabled: /^enabled$/m.test(text),
      interpreter: field('interpreter') ?? '',
      flags: field('flags') ?? '',
      offset: Number(field('offset') ?? 0),
      magic: hex('magic'),
      mask: hex('mask'),
    });
  }
  return out;
}

/** Whether a registration's magic (under its mask) matches `header`. */
export function entryMatches(e: BinfmtEntry, header: Buffer): boolean {
  if (!e.magic) return false;
  for (let i = 0; i < e.magic.length; i++) {
    const m = e.mask?.[i] ?? 0xff;
    const h = header[e.offset + i];
    if (h === undefined || (h & m) !== (e.magic[i]! & m)) return false;
  }
  return true;
}

function archKey(platform: string): string {
  const p = normalizePlatform(parsePlatform(platform));
  return p.architecture;
}

function isHost(platform: string): boolean {
  const h = normalizePlatform(hostPlatform());
  const p = normalizePlatform(parsePlatform(platform));
  if (p.os !== 'linux') return false;
  if (p.architecture === h.architecture) return (p.variant ?? '') === (h.variant ?? '') || p.architecture === 'arm';
  // An x86-64 kernel runs i386 binaries natively (as BuildKit's archutil finds).
  return h.architecture === 'amd64' && p.architecture === '386';
}

export interface EmulationStatus {
  platform: string;
  ok: boolean;
  /** Why not, in words (no registration, no F flag, the test binary failed). */
  reason?: string;
}

const checked = new Map<string, { at: number; status: Promise<EmulationStatus> }>();
/** How long a success is trusted: a resident builder must notice an emulator removed meanwhile. */
const TRUST_MS = 10_000;

/** Whether RUN steps of `platform` can execute here (native, or through an F binfmt_misc registration). */
export function canRunPlatform(platform: string, dir = BINFMT_DIR): Promise<EmulationStatus> {
  const key = `${dir}\0${platform}`;
  const hit = checked.get(key);
  if (hit && Date.now() - hit.at < TRUST_MS) return hit.status;
  const status = probe(platform, dir);
  // A failure is not remembered: the user may register the emulator and build again in the same daemon.
  void status.then((s) => (s.ok ? undefined : checked.delete(key)));
  checked.set(key, { at: Date.now(), status });
  return status;
}

/** Where kiln notes that `entry` ran `platform`'s test binary (tmpfs: gone at reboot, with the registrations). */
const PROOF_DIR = '/run/kiln/binfmt-ok';

/** The proof's path: a digest of the platform, the registration and the interpreter file's identity. */
async function proofPath(platform: string, entry: BinfmtEntry): Promise<string | undefined> {
  const st = await stat(entry.interpreter).catch(() => undefined);
  if (!st) return undefined;
  const id = JSON.stringify([
    platform,
    entry.name,
    entry.interpreter,
    entry.flags,
    entry.offset,
    entry.magic?.toString('hex'),
    entry.mask?.toString('hex'),
    st.dev,
    st.ino,
    st.size,
    st.mtimeMs,
  ]);
  return join(PROOF_DIR, createHash('sha256').update(id).digest('hex'));
}

async function probe(platform: string, dir: string): Promise<EmulationStatus> {
  const name = formatPlatform(normalizePlatform(parsePlatform(platform)));
  if (isHost(name)) return { platform: name, ok: true };
  const info = ARCHES[archKey(name)];
  if (!info || !name.startsWith('linux/')) return { platform: name, ok: false, reason: 'kiln knows no emulator for this platform' };
  const elf = tinyElf(info);
  const entry = (await binfmtEntries(dir)).find((e) => e.enabled && entryMatches(e, elf));
  if (!entry) return { platform: name, ok: false, reason: 'no binfmt_misc registration for it' };
  if (!entry.flags.includes('F')) {
    return { platform: name, ok: false, reason: `binfmt_misc entry ${entry.name} lacks the F (fix-binary) flag, so it cannot run inside a build's rootfs` };
  }
  // A success is remembered on tmpfs for this exact registration and interpreter file: the test binary costs a
  // qemu start (20–40 ms), which every `kiln build` process would otherwise pay before its first step.
  const proof = dir === BINFMT_DIR ? await proofPath(name, entry) : undefined;
  if (proof && (await stat(proof).catch(() => undefined))) return { platform: name, ok: true };
  const tmp = await mkdtemp(join(tmpdir(), 'kiln-archtest-'));
  try {
    const bin = join(tmp, 'exit0');
    await writeFile(bin, elf, { mode: 0o755 });
    await run(bin, [], { timeout: 10_000 });
    if (proof)
      await mkdir(dirname(proof), { recursive: true })
        .then(() => writeFile(proof, ''))
        .catch(() => {});
    return { platform: name, ok: true };
  } catch (err) {
    return { platform: name, ok: false, reason: `its test binary failed through ${entry.interpreter}: ${(err as Error).message.split('\n')[0]}` };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Throws EMULATOR_MISSING naming every platform of `platforms` this host cannot run, with the exact fix. */
export async function checkEmulation(platforms: Iterable<string>, dir = BINFMT_DIR): Promise<void> {
  const statuses = await Promise.all([...new Set(platforms)].map((p) => canRunPlatform(p, dir)));
  const missing = statuses.filter((s) => !s.ok);
  if (missing.length === 0) return;
  const names = missing.map((s) => s.platform);
  throw new KilnError(
    'EMULATOR_MISSING',
    `cannot run RUN steps for ${names.join(', ')} on this ${formatPlatform(normalizePlatform(hostPlatform()))} host: ${missing.map((s) => `${s.platform}: ${s.reason}`).join('; ')}`,
    {
      hint:
        'install the emulators and register them with the F (fix-binary) flag: `apt-get install qemu-user-static && kiln setup binfmt` ' +
        "(kiln setup binfmt writes ':kiln-qemu-<arch>:M::<magic>:<mask>:/usr/bin/qemu-<arch>-static:F' to /proc/sys/fs/binfmt_misc/register)",
      details: { platforms: names },
    },
  );
}

export interface RegisterResult {
  platform: string;
  name?: string;
  action: 'registered' | 'present' | 'no-interpreter' | 'native';
}

/** Mounts binfmt_misc at `dir` when it is not (a container or a minimal host may lack it). */
export async function ensureBinfmtMounted(dir = BINFMT_DIR): Promise<void> {
  if (await stat(join(dir, 'register')).catch(() => undefined)) return;
  try {
    await run('mount', ['-t', 'binfmt_misc', 'binfmt_misc', dir]);
  } catch (err) {
    throw new KilnError('PRECONDITION', `cannot mount binfmt_misc at ${dir}: ${(err as Error).message.split('\n')[0]}`, {
      hint: 'run as root: mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc',
    });
  }
}

/** Magic and mask of Debian's own registration file for `qemu`, as written there (`\x..` escapes). */
async function debianMagic(qemu: string, confDir: string): Promise<{ magic: string; mask: string } | undefined> {
  const text = await readFile(join(confDir, `qemu-${qemu}.conf`), 'utf8').catch(() => undefined);
  const line = text?.split('\n').find((l) => l.startsWith(':'));
  if (!line) return undefined;
  // :name:type:offset:magic:mask:interpreter:flags — magic and mask never contain a bare ':' (it is escaped).
  const f = line.split(':');
  return f.length >= 8 && f[2] === 'M' ? { magic: f[4]!, mask: f[5]! } : undefined;
}

/**
 * Registers the installed qemu-user-static interpreters for `platforms` (default: every one kiln knows) as
 * `kiln-qemu-<arch>` with flag F. Idempotent: a platform an enabled F registration already serves (kiln's or
 * anyone's) is left alone; no other registration is touched.
 */
export async function registerEmulators(
  platforms: string[] = EMULATABLE.map((a) => `linux/${a}`),
  o: { dir?: string; confDir?: string; binDir?: string } = {},
): Promise<RegisterResult[]> {
  const dir = o.dir ?? BINFMT_DIR;
  await ensureBinfmtMounted(dir);
  const out: RegisterResult[] = [];
  for (const platform of platforms) {
    const name = formatPlatform(normalizePlatform(parsePlatform(platform)));
    if (isHost(name)) {
      out.push({ platform: name, action: 'native' });
      continue;
    }
    const info = ARCHES[archKey(name)];
    if (!info) throw new KilnError('INVALID_ARGUMENT', `kiln knows no emulator for platform ${name}`, { hint: `known: ${EMULATABLE.join(', ')}` });
    const elf = tinyElf(info);
    const have = (await binfmtEntries(dir)).find((e) => e.enabled && e.flags.includes('F') && entryMatches(e, elf));
    if (have) {
      out.push({ platform: name, name: have.name, action: 'present' });
      continue;
    }
    const interp = join(o.binDir ?? '/usr/bin', `qemu-${info.qemu}-static`);
    const magic = await debianMagic(info.qemu, o.confDir ?? '/usr/lib/binfmt.d');
    if (!(await stat(interp).catch(() => undefined)) || !magic) {
      out.push({ platform: name, action: 'no-interpreter' });
      continue;
    }
    const entryName = `${KILN_PREFIX}${info.qemu}`;
    // A disabled or flag-less kiln entry of ours is replaced; anyone else's is never touched.
    if (await stat(join(dir, entryName)).catch(() => undefined)) await writeFile(join(dir, entryName), '-1');
    await writeFile(join(dir, 'register'), `:${entryName}:M::${magic.magic}:${magic.mask}:${interp}:F`);
    checked.clear();
    out.push({ platform: name, name: entryName, action: 'registered' });
  }
  return out;
}

/** Removes a registration kiln made (`kiln-qemu-*` only; anything else is refused). */
export async function unregisterEmulator(name: string, dir = BINFMT_DIR): Promise<void> {
  if (!name.startsWith(KILN_PREFIX) || name.includes('/')) {
    throw new KilnError('INVALID_ARGUMENT', `binfmt_misc entry ${name} is not kiln's (kiln removes only ${KILN_PREFIX}* entries)`);
  }
  await writeFile(join(dir, name), '-1').catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
  checked.clear();
}

/** qemu's name for a platform's architecture (`aarch64` for linux/arm64), when kiln knows it. */
export function qemuNameOf(platform: string): string | undefined {
  return ARCHES[archKey(platform)]?.qemu;
}

/** The tiny exit(0) ELF kiln probes `platform` with (undefined for a platform it knows no emulator for). */
export function tinyElfFor(platform: string): Buffer | undefined {
  const a = ARCHES[archKey(platform)];
  return a ? tinyElf(a) : undefined;
}
