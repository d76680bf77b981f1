/**
 * Cross-process locks on one state root: a lock is a file created with O_EXCL holding its owner's token
 * (`pid.starttime`). A lock whose owner is dead (killed with SIGKILL, say) is stale and is taken over; pid reuse
 * is caught by comparing the process start time from /proc. Take-overs are serialised through a second O_EXCL
 * file so two waiters never both remove a stale lock and then each other's fresh one.
 */
import { mkdir, open, readFile, rm, stat, unlink } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { KilnError } from '../errors.js';
import type { IoOptions } from './types.js';

let selfToken: string | undefined;

function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22 (starttime) counted after the parenthesised command name, which may contain spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}

/** This process's owner token, `pid.starttime`: unique across pid reuse on one machine. */
export function ownerToken(): string {
  selfToken ??= `${process.pid}.${startTimeOf(process.pid) ?? '0'}`;
  return selfToken;
}

/** True unless the process named by `token` (from `ownerToken()`) is certainly gone. */
export function isOwnerAlive(token: string): boolean {
  const m = /^(\d+)\.(\d+)$/.exec(token.trim());
  if (!m) return false;
  const pid = Number(m[1]);
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  const start = startTimeOf(pid);
  if (start === undefined) return m[2] === '0';
  return m[2] === '0' || start === m[2];
}

/** A held lock; `release()` is idempotent. */
export interface Lock {
  readonly path: string;
  release(): Promise<void>;
}

export interface LockOptions extends IoOptions {
  /** Give up with LOCKED after this long (default 120 s). */
  timeoutMs?: number;
}

const STEAL_STALE_MS = 10_000;

async function readOwner(path: string): Promise<string | undefined> {
  try {
    return (await readFile(path, 'utf8')).split('\n')[0];
  } catch {
    return undefined;
  }
}

/** A lock is stale when its owner is dead, or when it stayed empty (owner killed between create and write). */
async function isStaleOwner(path: string, owner: string): Promise<boolean> {
  if (owner.includes(' ')) return !isOwnerAlive(owner.split(' ')[0]!);
  const st = await stat(path).catch(() => undefined);
  return st !== undefined && Date.now() - st.mtimeMs > STEAL_STALE_MS / 2;
}

/** Removes `path` if its owner is dead, serialised by `<path>.steal`. */
async function removeIfStale(path: string): Promise<void> {
  const steal = `${path}.steal`;
  try {
    const fh = await open(steal, 'wx');
    await fh.close();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    // Someone is taking over; if they died doing it (a tiny window), clear their marker after a while.
    const st = await stat(steal).catch(() => undefined);
    if (st && Date.now() - st.mtimeMs > STEAL_STALE_MS) await rm(steal, { force: true });
    return;
  }
  try {
    const owner = await readOwner(path);
    if (owner !== undefined && (await isStaleOwner(path, owner))) await unlink(path).catch(() => {});
  } finally {
    await rm(steal, { force: true });
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new KilnError('CANCELLED', 'cancelled while waiting for a lock'));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new KilnError('CANCELLED', 'cancelled while waiting for a lock'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Acquires the lock file at `path` (creating its directory), waiting while a live process holds it.
 * Throws LOCKED naming the file and the holder's pid after `timeoutMs`, CANCELLED on abort.
 */
export async function acquireLock(path: string, opts: LockOptions = {}): Promise<Lock> {
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
  const content = `${ownerToken()} ${randomBytes(6).toString('hex')}\n`;
  await mkdir(dirname(path), { recursive: true });
  let delay = 2;
  for (;;) {
    try {
      const fh = await open(path, 'wx');
      try {
        await fh.writeFile(content);
      } finally {
        await fh.close();
      }
      let released = false;
      return {
        path,
        async release() {
          if (released) return;
          released = true;
          // Only remove the file if it is still ours (never someone's who took over after a bug).
          if ((await readOwner(path)) === content.trimEnd()) await unlink(path).catch(() => {});
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = await readOwner(path);
    if (owner !== undefined && (await isStaleOwner(path, owner))) {
      await removeIfStale(path);
      await sleep(1, opts.signal); // another waiter may be mid-take-over: do not spin
      continue;
    }
    if (Date.now() > deadline) {
      throw new KilnError('LOCKED', `${path} is held by process ${owner?.split('.')[0] ?? '?'}`, {
        hint: 'another kiln process is using this root; wait for it or stop it',
      });
    }
    await sleep(delay, opts.signal);
    delay = Math.min(delay * 2, 50);
  }
}

/** Runs `fn` holding the lock `<locksDir>/<name>.lock`. */
export async function withLock<T>(locksDir: string, name: string, fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
  const lock = await acquireLock(join(locksDir, `${name}.lock`), opts);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}
