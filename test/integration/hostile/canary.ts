/**
 * Host canaries for the hostile suite: files an attack must neither change nor read.
 *
 * Usage:
 *   const c = await plantCanary();                 // a fresh host temp dir outside every root and context
 *   ... build a Dockerfile that aims at c.file, c.dir, c.subdir, c.emptyDir, c.fifo, c.archive ...
 *   await c.assertUntouched('ADD through a symlink');   // nothing under c.dir changed, appeared, vanished or was read
 *   c.assertSecretAbsent('build error', errText, logs); // the secret string is in no output, error or log
 *   await c.assertSecretAbsentUnder(stateRoot, 'state root'); // nor in any file of a kiln root (layers gunzipped)
 *   await c.remove();
 *
 * What is planted (all under `dir`, recorded with type, mode, owner, size, inode, link count, mtime, ctime and
 * content): `secret.txt` (0640, holds `secret`), `sub/inner.txt` (holds `secret`), `empty/` (an empty directory,
 * what a stub clean-up would delete), `fifo` (a FIFO), `host.tar` (a tar whose one member holds `secret`), and any
 * `extra` files the caller names.
 *
 * "Unread" evidence that does not depend on atime: the FIFO is held open read-write by this process with the
 * secret sitting in its pipe buffer, so an attacker that opens it neither blocks nor hangs, and any read or write
 * shows up as a changed buffer (the secret missing, or bytes added). Files and directories also carry an atime
 * trap: their atime is set before their mtime, so under relatime (and strictatime) any read moves it; the trap is
 * checked only when a probe shows the filesystem updates atime (not under noatime).
 */
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { closeSync, constants as C, openSync, readSync, writeSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, utimes, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import tar from 'tar-stream';

export interface Canary {
  /** The canary directory (a fresh mkdtemp under the host's tmpdir). */
  dir: string;
  /** A unique string held by the canary files; it must appear in nothing an attack can produce. */
  secret: string;
  /** `dir/secret.txt`. */
  file: string;
  /** `dir/sub` (holds `inner.txt`). */
  subdir: string;
  /** `dir/empty`, an empty directory. */
  emptyDir: string;
  /** `dir/fifo`, a FIFO this process holds open with the secret in its buffer. */
  fifo: string;
  /** `dir/host.tar`, a tar archive whose member `leaked.txt` holds the secret. */
  archive: string;
  /** Asserts that nothing under `dir` changed, appeared, vanished or was read since planting. */
  assertUntouched(label?: string): Promise<void>;
  /** Asserts that the secret occurs in none of `texts` (strings or buffers; undefined skipped). */
  assertSecretAbsent(label: string, ...texts: Array<string | Buffer | undefined | null>): void;
  /** Asserts that no regular file under `root` holds the secret (gzip files are also checked decompressed). */
  assertSecretAbsentUnder(root: string, label?: string): Promise<void>;
  /** Closes the FIFO and removes the canary directory. */
  remove(): Promise<void>;
}

interface Entry {
  type: 'file' | 'dir' | 'symlink' | 'fifo' | 'other';
  mode: number;
  uid: number;
  gid: number;
  size: number;
  ino: number;
  nlink: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
  atimeNs: bigint;
  content?: string;
}

const TRAP_ATIME = new Date('2001-01-01T00:00:00Z');
const TRAP_MTIME = new Date('2002-02-02T00:00:00Z');

let atimeWorks: Promise<boolean> | undefined;
/** Whether reads update atime where the canaries live (relatime/strictatime yes, noatime no). */
function probeAtime(dir: string): Promise<boolean> {
  atimeWorks ??= (async () => {
    const p = join(dir, '.atime-probe');
    await writeFile(p, 'probe');
    await utimes(p, TRAP_ATIME, TRAP_MTIME);
    await readFile(p);
    const st = await lstat(p, { bigint: true });
    await rm(p);
    return st.atimeMs !== BigInt(TRAP_ATIME.getTime());
  })();
  return atimeWorks;
}

function typeOf(st: import('node:fs').BigIntStats): Entry['type'] {
  return st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFIFO() ? 'fifo' : 'other';
}

/** lstat of one known path, without reading it (so its atime is what the attack left). */
async function statEntry(p: string): Promise<Entry | undefined> {
  const st = await lstat(p, { bigint: true }).catch(() => undefined);
  if (!st) return undefined;
  return {
    type: typeOf(st),
    mode: Number(st.mode),
    uid: Number(st.uid),
    gid: Number(st.gid),
    size: Number(st.size),
    ino: Number(st.ino),
    nlink: Number(st.nlink),
    mtimeNs: st.mtimeNs,
    ctimeNs: st.ctimeNs,
    atimeNs: st.atimeNs,
  };
}

async function contentOf(p: string, e: Entry): Promise<string | undefined> {
  if (e.type === 'file') return (await readFile(p)).toString('base64');
  if (e.type === 'symlink') return readlink(p);
  return undefined;
}

/** Every path under `dir` (relative), found by readdir: call only after the atimes were taken. */
async function listAll(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const name of (await readdir(d)).sort()) {
      const p = join(d, name);
      out.push(relative(dir, p));
      const st = await lstat(p);
      if (st.isDirectory()) await walk(p);
    }
  };
  await walk(dir);
  return out;
}

async function tarHolding(name: string, body: string): Promise<Buffer> {
  const pack = tar.pack();
  pack.entry({ name }, body);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

/** Plants the canaries in a fresh host temp dir and records them. */
export async function plantCanary(opts: { extra?: Record<string, string | Buffer> } = {}): Promise<Canary> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-canary-'));
  const secret = `KILN-CANARY-SECRET-${randomBytes(12).toString('hex')}`;
  const file = join(dir, 'secret.txt');
  const subdir = join(dir, 'sub');
  const emptyDir = join(dir, 'empty');
  const fifo = join(dir, 'fifo');
  const archive = join(dir, 'host.tar');
  await writeFile(file, `${secret}\n`, { mode: 0o640 });
  await mkdir(subdir);
  await writeFile(join(subdir, 'inner.txt'), `${secret} inner\n`);
  await mkdir(emptyDir);
  await writeFile(archive, await tarHolding('leaked.txt', `${secret} from the host archive\n`));
  for (const [rel, body] of Object.entries(opts.extra ?? {})) {
    await mkdir(join(dir, rel, '..'), { recursive: true });
    await writeFile(join(dir, rel), body);
  }
  execFileSync('mkfifo', ['-m', '0600', fifo]);
  // Read-write and non-blocking: opening never waits for a peer, and the pipe keeps its buffer while we hold it.
  const fifoFd = openSync(fifo, C.O_RDWR | C.O_NONBLOCK);
  const fifoPayload = Buffer.from(`${secret} fifo\n`);
  writeSync(fifoFd, fifoPayload);

  const trap = await probeAtime(dir);
  // Deepest first: setting a file's times does not touch its directory's atime, but reading a dir would.
  const known = (await listAll(dir)).reverse();
  for (const rel of known) {
    const p = join(dir, rel);
    const st = await lstat(p);
    if (st.isSymbolicLink() || st.isFIFO()) continue;
    await utimes(p, TRAP_ATIME, TRAP_MTIME);
  }
  const recorded = new Map<string, Entry>();
  for (const rel of known) {
    const p = join(dir, rel);
    const e = (await statEntry(p))!;
    // Reading the content moves the atime: take the atime first, then put the trap back.
    e.content = await contentOf(p, e);
    if (e.type === 'file') await utimes(p, TRAP_ATIME, TRAP_MTIME);
    recorded.set(rel, e);
  }
  // The top directory: its own metadata (a chmod or utimes through a symlink to it shows here).
  await utimes(dir, TRAP_ATIME, TRAP_MTIME);
  const top = (await statEntry(dir))!;
  for (const [rel, e] of recorded) {
    // utimes on the top dir changed nothing below; refresh ctimes that the trap setting itself moved.
    const now = (await statEntry(join(dir, rel)))!;
    e.ctimeNs = now.ctimeNs;
    e.atimeNs = now.atimeNs;
  }

  let closed = false;
  const c: Canary = {
    dir,
    secret,
    file,
    subdir,
    emptyDir,
    fifo,
    archive,
    async assertUntouched(label = 'attack') {
      const at = `${label}: host canary`;
      // 1. Metadata and atimes of every recorded path, before anything here reads them.
      const topNow = await statEntry(dir);
      assert.ok(topNow, `${at} ${dir} was removed`);
      for (const k of ['type', 'mode', 'uid', 'gid', 'ino', 'mtimeNs', 'ctimeNs'] as const) {
        assert.is(String(topNow![k]), String(top[k]), `${at} ${dir}: ${k} changed`);
      }
      if (trap) assert.is(String(topNow!.atimeNs), String(top.atimeNs), `${at} ${dir} was listed (atime moved)`);
      const now = new Map<string, Entry>();
      for (const [rel, e] of recorded) {
        const p = join(dir, rel);
        const n = await statEntry(p);
        assert.ok(n, `${at} ${p} was removed`);
        // The FIFO's own times move with our buffer check; its evidence is the buffer itself.
        const keys =
          e.type === 'fifo'
            ? (['type', 'mode', 'uid', 'gid', 'ino', 'nlink'] as const)
            : (['type', 'mode', 'uid', 'gid', 'size', 'ino', 'nlink', 'mtimeNs', 'ctimeNs'] as const);
        for (const k of keys) {
          assert.is(String(n![k]), String(e[k]), `${at} ${p}: ${k} changed (${e[k]} -> ${n![k]})`);
        }
        if (trap && (e.type === 'file' || e.type === 'dir')) assert.is(String(n!.atimeNs), String(e.atimeNs), `${at} ${p} was read (atime moved)`);
        now.set(rel, n!);
      }
      // 2. The FIFO's buffer: exactly what we put there (nobody read from it or wrote to it).
      const buf = Buffer.alloc(fifoPayload.length + 4096);
      let got = 0;
      try {
        got = readSync(fifoFd, buf, 0, buf.length, null);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      }
      const seen = buf.subarray(0, got);
      writeSync(fifoFd, fifoPayload);
      assert.ok(seen.equals(fifoPayload), `${at} ${fifo} was opened and read or written (buffer ${JSON.stringify(seen.toString())})`);
      // 3. Nothing appeared, and contents are the same (reads from here on may move atimes: restore the trap).
      const listed = await listAll(dir);
      assert.equal(
        listed.filter((r) => !recorded.has(r)),
        [],
        `${at}: new entries under ${dir}`,
      );
      for (const [rel, e] of recorded) {
        const p = join(dir, rel);
        assert.is(await contentOf(p, now.get(rel)!), e.content, `${at} ${p}: content changed`);
        if (e.type === 'file' || e.type === 'dir') await utimes(p, TRAP_ATIME, TRAP_MTIME);
      }
      await utimes(dir, TRAP_ATIME, TRAP_MTIME);
      for (const [rel, e] of recorded) {
        const n = (await statEntry(join(dir, rel)))!;
        e.ctimeNs = n.ctimeNs;
        e.atimeNs = n.atimeNs;
      }
      const t = (await statEntry(dir))!;
      top.ctimeNs = t.ctimeNs;
      top.atimeNs = t.atimeNs;
    },
    assertSecretAbsent(label, ...texts) {
      for (const t of texts) {
        if (t === undefined || t === null) continue;
        const s = Buffer.isBuffer(t) ? t.toString('latin1') : t;
        assert.not.ok(
          s.includes(secret),
          `${label}: the host canary's secret leaked: ${s.slice(Math.max(0, s.indexOf(secret) - 200), s.indexOf(secret) + 100)}`,
        );
      }
    },
    async assertSecretAbsentUnder(root, label = root) {
      const needle = Buffer.from(secret);
      const walk = async (d: string): Promise<void> => {
        let names: string[];
        try {
          names = await readdir(d);
        } catch {
          return; // removed while we walked (a build's scratch dir)
        }
        for (const name of names) {
          const p = join(d, name);
          const st = await lstat(p).catch(() => undefined);
          if (!st) continue;
          if (st.isDirectory()) await walk(p);
          // Regular files only: never open a FIFO or device an image planted.
          else if (st.isFile() && st.size < 512 * 1024 * 1024) {
            const data = await readFile(p).catch(() => undefined);
            if (!data) continue;
            assert.not.ok(data.includes(needle), `${label}: the host canary's secret is in ${p}`);
            if (data[0] === 0x1f && data[1] === 0x8b) {
              let plain: Buffer | undefined;
              try {
                plain = gunzipSync(data);
              } catch {
                plain = undefined;
              }
              if (plain) assert.not.ok(plain.includes(needle), `${label}: the host canary's secret is in ${p} (gzip)`);
            }
          }
        }
      };
      await walk(root);
    },
    async remove() {
      if (!closed) closeSync(fifoFd);
      closed = true;
      await rm(dir, { recursive: true, force: true });
    },
  };
  return c;
}
