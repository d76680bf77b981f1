/**
 * The resident builders of a root, as their `<root>/daemon/<key>.json` records say, and stopping them
 * (`kiln daemon status|stop`; tests and scripts that must leave no process behind).
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { connectTo } from './client.js';

export interface DaemonInfo {
  key: string;
  pid: number;
  buildId: string;
  started: string;
  /** The recorded process exists (a record whose process is gone is stale and removed by `stopDaemons`). */
  alive: boolean;
}

export async function listDaemons(root: string): Promise<DaemonInfo[]> {
  const dir = join(root, 'daemon');
  const names = await readdir(dir).catch(() => [] as string[]);
  const out: DaemonInfo[] = [];
  for (const n of names.filter((x) => x.endsWith('.json')).sort()) {
    try {
      const rec = JSON.parse(await readFile(join(dir, n), 'utf8')) as { pid: number; buildId: string; started: string };
      out.push({ key: n.slice(0, -5), pid: rec.pid, buildId: rec.buildId, started: rec.started, alive: isAlive(rec.pid) });
    } catch {
      // a record being written or removed right now
    }
  }
  return out;
}

/** SIGTERM to every daemon of `root` (each cancels what it runs and exits); waits up to `timeoutMs`; returns the keys stopped. */
export async function stopDaemons(root: string, opts: { timeoutMs?: number } = {}): Promise<string[]> {
  const daemons = await listDaemons(root);
  const dir = join(root, 'daemon');
  for (const d of daemons) {
    if (d.alive) {
      try {
        process.kill(d.pid, 'SIGTERM');
      } catch {
        /* exited meanwhile */
      }
    }
  }
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  while (daemons.some((d) => isAlive(d.pid)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  for (const d of daemons) {
    // A daemon that was killed (SIGKILL, a crash) could not remove its socket: remove it unless another
    // daemon answers there (two started at once: the record may name the one that lost the socket).
    if (!isAlive(d.pid)) {
      await rm(join(dir, `${d.key}.json`), { force: true });
      const sock = join(dir, `${d.key}.sock`);
      if (!(await answers(sock))) await rm(sock, { force: true });
    }
  }
  return daemons.map((d) => d.key);
}

async function answers(socketPath: string): Promise<boolean> {
  const s = await connectTo(socketPath);
  s?.destroy();
  return s !== undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
