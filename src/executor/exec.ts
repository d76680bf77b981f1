/**
 * `kiln exec`: `runc exec` into a running container. runc starts from the container's own process config
 * (capabilities, no_new_privileges, env) and applies the overrides; the user is resolved in the container's
 * mounted rootfs, like `run -u`.
 */
import { spawn } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError } from '../errors.js';
import { createContainerStore } from './containers.js';
import { bundleDir } from './executor.js';
import { RUNC, runcArgs, runcLoggedError, runtimeError } from './runc.js';
import { mergeEnv, parseEnvFlags } from './run-config.js';
import { resolveUser } from './user.js';

export interface ExecOptions {
  args: string[];
  env?: string[];
  user?: string;
  cwd?: string;
  tty?: boolean;
  interactive?: boolean;
  detach?: boolean;
}

/** Runs a process in container `ref`; resolves with its exit status. CONTAINER_NOT_FOUND, PRECONDITION when not running. */
export async function execInContainer(root: string, ref: string, o: ExecOptions): Promise<number> {
  const rec = await createContainerStore({ root }).get(ref);
  if (rec.status !== 'running') throw new KilnError('CONTAINER_RUNNING', `container ${rec.id.slice(0, 12)} is not running`, { hint: 'start a new one with kiln run' });
  const bundle = bundleDir(root, rec.id);
  const log = join(bundle, `exec-${process.pid}-${Date.now()}.log`);
  const procFile = join(bundle, `exec-${process.pid}-${Date.now()}.json`);
  // A full process spec (runc exec --process): the container's own, with the overrides. Flags alone would keep
  // the container user's supplementary groups for another user.
  const config = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')) as { process: Record<string, any> };
  const proc: Record<string, any> = { ...config.process, args: o.args, terminal: Boolean(o.tty) };
  if (o.cwd) proc.cwd = o.cwd;
  const extra = parseEnvFlags(o.env ?? []);
  if (extra.length) proc.env = mergeEnv(proc.env ?? [], extra);
  if (o.user !== undefined) {
    const u = await resolveUser(join(bundle, 'rootfs'), o.user);
    proc.user = { uid: u.uid, gid: u.gid, ...(u.additionalGids.length ? { additionalGids: u.additionalGids } : {}) };
  }
  await writeFile(procFile, JSON.stringify(proc));
  const args = [...runcArgs(root, log), 'exec', '--process', procFile, ...(o.detach ? ['--detach'] : []), rec.id];
  const child = spawn(RUNC, args, {
    stdio: o.tty ? 'inherit' : [o.interactive ? 'inherit' : 'ignore', 'inherit', 'inherit'],
  });
  const forward = (s: NodeJS.Signals) => child.kill(s);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  try {
    const code = await new Promise<number>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (c, sig) => resolve(c ?? (sig ? 128 : 1)));
    });
    if (code !== 0) {
      const err = await runcLoggedError(log);
      if (err) throw runtimeError(err);
    }
    return code;
  } finally {
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
    await rm(log, { force: true });
    await rm(procFile, { force: true });
  }
}
