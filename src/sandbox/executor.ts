/**
 * The executor: one process in a runc sandbox on an overlay root. Hot path of every RUN step, so it does the
 * least work that is correct: one mount(8), a handful of small files, one `runc run` in the foreground (runc
 * forwards signals and passes the exit status back), then unmount and remove.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { clock, phase, since } from '../cache/profile.js';
import { KilnError } from '../errors.js';
import { cgroupsPath, removeCgroup } from './cgroup.js';
import { writeEtcFiles } from './etc-files.js';
import { mountAll, mountsUnder, unmountAll, unmountMounted } from './mount.js';
import { attachNetwork, type NetworkAttachment } from './network.js';
import { writeOwner } from './owner.js';
import { startPortProxy, type PortProxy } from './ports.js';
import { RUNC, runcArgs, runcDelete, runcExecutable, runcKill, runcLoggedError, runtimeError } from './runc.js';
import { buildSpec } from './spec.js';
import { shimResizer, TTY_SHIM_RUNC_FLAGS, underTtyShim } from '../native/tty-shim.js';
import { hostCapabilities } from './host-caps.js';
import { hostDevices } from './host-devices.js';
import { prepareMountPoints, removeMountPoints, type MountStub, type SpecPaths } from './mount-points.js';
import type { Executor, RunOptions, RunResult, RunningContainer } from './types.js';
import { resolveUser } from './user.js';
import { copyUp } from './volume-copy-up.js';

export interface ExecutorOptions {
  /** kiln's state root; bundles go to `<root>/containers/<id>/bundle`, runc state to `<root>/runc`. */
  root: string;
}

/** A container's directory: its bundle while it runs, and for `kiln run` containers their state and log. */
export function containerDir(root: string, id: string): string {
  return join(root, 'containers', id);
}

/** Where a container's runc bundle lives while it runs. */
export function bundleDir(root: string, id: string): string {
  return join(containerDir(root, id), 'bundle');
}

/** A new random container id (64 hex digits, as Docker's). */
export function newContainerId(): string {
  return randomBytes(32).toString('hex');
}

let nofile: Promise<number> | undefined;
/** RLIMIT_NOFILE to grant: Docker's 1048576, capped at our hard limit (no CAP_SYS_RESOURCE to raise it). */
function nofileLimit(): Promise<number> {
  nofile ??= readFile('/proc/self/limits', 'utf8')
    .then((t) => {
      const m = /Max open files\s+\d+\s+(\d+|unlimited)/.exec(t);
      const hard = !m || m[1] === 'unlimited' ? 1048576 : Number(m[1]);
      return Math.min(hard, 1048576);
    })
    .catch(() => 1024);
  return nofile;
}

/** Drops runc's own start-failure line from the container's stderr: kiln reports it as an error instead. */
function stripRuncErrors(): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      const s = chunk.toString('utf8');
      if (/^runc (run|create|exec) failed: /m.test(s)) cb(null, Buffer.from(s.replace(/^runc (run|create|exec) failed: .*\n?/gm, '')));
      else cb(null, chunk);
    },
  });
}

/** Creates an Executor over a state root. */
export function createExecutor(opts: ExecutorOptions): Executor {
  const root = opts.root;
  return { run: (o) => runContainer(root, o) };
}

async function runContainer(root: string, o: RunOptions): Promise<RunResult> {
  o.signal?.throwIfAborted();
  const id = o.id ?? newContainerId();
  const bundle = bundleDir(root, id);
  const rootfs = join(bundle, 'rootfs');
  let t = clock();
  await mkdir(rootfs, { recursive: true });
  let net: NetworkAttachment | undefined;
  let proxy: PortProxy | undefined;
  let stubs: MountStub[] = [];
  let started = false;
  let mounted = false;
  let clean = false;
  try {
    await writeOwner(bundle);
    if (o.ports?.length && o.network !== 'bridge' && !(typeof o.network === 'object' && o.network.ip))
      throw new KilnError('INVALID_ARGUMENT', 'published ports (-p) need the bridge network');
    // The rootfs mount and the network (a bridge costs ~100 ms) are independent: set both up at once. Each
    // assigns its handle as soon as it exists, so `finally` undoes whichever succeeded.
    const settled = await Promise.allSettled([
      phase('sandbox.mount', () => mountAll(o.rootfs, rootfs, { signal: o.signal })).then(() => {
        mounted = true;
      }),
      phase('sandbox.network', async () => {
        if (o.ports?.length) proxy = await startPortProxy(o.ports);
        net = await attachNetwork(o.network, { root, id, signal: o.signal });
        if (proxy && net.ip) proxy.setTarget(net.ip);
      }),
    ]);
    since('sandbox.bundle+mount+network', t);
    t = clock();
    for (const r of settled) if (r.status === 'rejected') throw r.reason;
    const netw = net!;
    const hostname = o.hostname ?? id.slice(0, 12);
    const [user, nofile, etcFiles, hostCaps, devices] = await Promise.all([
      resolveUser(rootfs, o.process.user),
      nofileLimit(),
      writeEtcFiles(bundle, { hostname, ip: netw.ip, shareHostNet: netw.ns === 'host', extraHosts: o.extraHosts, nameservers: o.nameservers }),
      hostCapabilities(),
      o.privileged ? hostDevices() : Promise.resolve([]),
    ]);
    const mounts = o.mounts ?? [];
    for (const m of mounts) if (m.copyUp && m.source) await copyUp(rootfs, m.target, m.source);
    const spec = buildSpec({
      args: o.process.args,
      env: o.process.env,
      cwd: o.process.cwd || '/',
      user,
      tty: Boolean(o.process.tty),
      consoleSize: o.process.consoleSize,
      hostname,
      etcFiles,
      network: netw.ns,
      mounts,
      cgroupsPath: cgroupsPath(root, id),
      limits: o.limits,
      readonlyRootfs: o.readonlyRootfs,
      ...(o.privileged ? { privileged: { devices } } : {}),
      capAdd: o.capAdd,
      capDrop: o.capDrop,
      seccomp: o.seccomp,
      hostCapabilities: hostCaps,
      nofileLimit: nofile,
    });
    // Every container passes here: the paths runc will mount onto are checked in the rootfs, symlinks resolved
    // inside it, missing mount points created by kiln (no-follow) and recorded for removal after the run.
    stubs = await prepareMountPoints(rootfs, spec as SpecPaths);
    await writeFile(join(bundle, 'config.json'), JSON.stringify(spec));
    since('sandbox.spec', t);
    o.signal?.throwIfAborted();
    started = true;
    const result = await phase('runc.run', () => spawnRunc(root, id, bundle, o, netw.ip));
    clean = true;
    return result;
  } finally {
    t = clock();
    // Clean-up must run even when cancelled: never pass the signal below.
    if (stubs.length) await removeMountPoints(rootfs, stubs);
    if (started && !clean) {
      await runcDelete(root, id).catch(() => {});
      await removeCgroup(root, id).catch(() => {});
    }
    if (mounted) await phase('sandbox.umount', () => unmountMounted(o.rootfs, rootfs)).catch(() => {});
    else await unmountAll(bundle).catch(() => {});
    await proxy?.close().catch(() => {});
    // A namespace serves another step only after a clean end without added capabilities (no CAP_NET_ADMIN).
    await net?.release({ reuse: clean && !o.privileged && !o.capAdd?.length }).catch(() => {});
    // Never recurse into a rootfs that is still mounted: that would delete the snapshot's files. Start-up clean-up retries.
    if ((await mountsUnder(bundle).catch(() => ['?'])).length === 0) await rm(bundle, { recursive: true, force: true }).catch(() => {});
    // Kept when `kiln run` stores state and logs there.
    await rmdir(containerDir(root, id)).catch(() => {});
    since('sandbox.teardown', t);
  }
}

/** Runs `runc run` in the foreground and resolves with the exit status. */
function spawnRunc(root: string, id: string, bundle: string, o: RunOptions, ip: string | undefined): Promise<RunResult> {
  const log = join(bundle, 'runc.log');
  const inherit = o.stdio === 'inherit';
  // A terminal, and no terminal of ours to hand over: the shim takes it from runc and relays it over pipes.
  const shim = Boolean(o.process.tty) && !inherit;
  const runc = runcExecutable();
  const [cmd, args] = shim
    ? underTtyShim(runc, [...runcArgs(root, log), 'run', ...TTY_SHIM_RUNC_FLAGS, '--bundle', bundle, id])
    : [runc, [...runcArgs(root, log), 'run', '--bundle', bundle, id]];
  const child = spawn(cmd, args, {
    stdio: inherit ? 'inherit' : [o.stdin ? 'pipe' : 'ignore', o.stdout ? 'pipe' : 'ignore', 'pipe', ...(shim ? ['pipe' as const] : [])],
    // Only stdio reaches runc; Node opens every other descriptor with O_CLOEXEC.
  });
  const kill = async (signal: NodeJS.Signals | number = 'SIGKILL') => {
    const sig = typeof signal === 'number' ? signal : signal.replace(/^SIG/, '');
    // Before runc has created the container, `runc kill` finds nothing: retry until it does or runc exits.
    for (let i = 0; i < 200 && child.exitCode === null && child.signalCode === null; i++) {
      if (await runcKill(root, id, sig)) return;
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  const handle: RunningContainer = { id, ip, kill, ...(shim ? { resize: shimResizer(child.stdio[3] as NodeJS.WritableStream | null) } : {}) };
  let stderrDone: Promise<unknown> = Promise.resolve();
  let aborted = false;
  const onAbort = () => {
    aborted = true;
    kill('SIGKILL').catch(() => {});
  }; // runc gone: the close below still settles the run
  o.signal?.addEventListener('abort', onAbort, { once: true });

  if (!inherit) {
    if (o.stdin && child.stdin) (o.stdin as NodeJS.ReadableStream).pipe(child.stdin).on('error', () => {});
    if (o.stdout && child.stdout) child.stdout.pipe(o.stdout, { end: false });
    if (child.stderr) {
      const filtered = child.stderr.pipe(stripRuncErrors());
      // The transform hands on its last chunk after the child closes; wait for it before resolving.
      stderrDone = new Promise((r) => {
        filtered.once('end', r);
        filtered.once('error', r);
      });
      if (o.stderr) filtered.pipe(o.stderr, { end: false });
      else filtered.resume();
    }
  }
  o.onStart?.(handle);
  return new Promise<RunResult>((resolve, reject) => {
    child.on('error', (err) => {
      o.signal?.removeEventListener('abort', onAbort);
      reject(
        (err as NodeJS.ErrnoException).code === 'ENOENT'
          ? new KilnError('RUNTIME_MISSING', `${RUNC} not found`, { hint: 'apt-get install runc', cause: err })
          : err,
      );
    });
    // The emitter drops a listener's promise: a failure while settling (reading runc's log) rejects the run.
    child.on(
      'close',
      (code, sig) =>
        void (async () => {
          await stderrDone;
          // A detached runc (under the shim) leaves the stopped container's state and cgroups behind.
          if (shim) await runcDelete(root, id).catch(() => {});
          o.signal?.removeEventListener('abort', onAbort);
          if (aborted) return reject(new KilnError('CANCELLED', 'cancelled', { cause: o.signal?.reason }));
          const exitCode = code ?? (sig ? 128 : 1);
          if (exitCode !== 0) {
            const err = await runcLoggedError(log);
            if (err) return reject(runtimeError(err));
          }
          resolve(exitCode > 128 ? { exitCode, signal: signalName(exitCode - 128) } : { exitCode });
        })().catch(reject),
    );
  });
}

function signalName(n: number): string | undefined {
  const names: Record<number, string> = { 1: 'SIGHUP', 2: 'SIGINT', 3: 'SIGQUIT', 6: 'SIGABRT', 9: 'SIGKILL', 13: 'SIGPIPE', 15: 'SIGTERM' };
  return names[n];
}
