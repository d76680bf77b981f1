/**
 * BuildKit as a benchmark peer: Debian's docker.io (Docker Engine 20.10, whose daemon embeds BuildKit), started by
 * hand with every piece of its state under one mkdtemp dir (socket, data root, exec root, pid file; its own
 * containerd's state lands under those too), no iptables and no default bridge, so it never touches the machine's
 * Docker or networks. Its client is Debian's CLI 20.10 (/usr/bin/docker), which builds with BuildKit under
 * DOCKER_BUILDKIT=1 without buildx (/usr/local/bin/docker is CLI 28, which would need buildx).
 *
 * Without a default bridge, BuildKit's RUN needs the host network (`docker build --network host`); kiln's and
 * buildah's RUN steps get their own network namespaces, which costs them, not BuildKit, a few ms.
 *
 *   const bk = await startBuildKit({ dir, insecureRegistries: ['127.0.0.1:5000'] });
 *   try { await bk.build(ctx, { tag: 'bench' }); } finally { await bk.stop(); }
 *
 * `stop()` ends dockerd (SIGTERM, then SIGKILL after 30 s), unmounts what is left under the dir and removes it;
 * it is safe to call twice, and runs on SIGINT/SIGTERM of the bench too.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const DOCKERD = ['/usr/sbin/dockerd', '/usr/bin/dockerd'].find((p) => existsSync(p)) ?? '/usr/sbin/dockerd';
/** Debian's CLI 20.10: it drives BuildKit itself with DOCKER_BUILDKIT=1. */
export const DOCKER = '/usr/bin/docker';

export interface BuildKit {
  /** The temp dir holding all of dockerd's state. */
  dir: string;
  /** The environment the docker CLI runs with (DOCKER_HOST, DOCKER_CONFIG, DOCKER_BUILDKIT=1). */
  env: NodeJS.ProcessEnv;
  /** Runs the docker CLI against this daemon; resolves to stdout; rejects with stderr. */
  docker(args: string[], opts?: { input?: string }): Promise<string>;
  /** `docker build --network host -q -t TAG [--no-cache] CONTEXT`. */
  build(context: string, opts: { tag: string; noCache?: boolean }): Promise<void>;
  /** Drops BuildKit's whole build cache (`docker builder prune -af`), so the next --no-cache build is cold. */
  prune(): Promise<void>;
  /** `docker load -i FILE`. */
  load(tarFile: string): Promise<void>;
  /** Tags `image` as `ref` and pushes it. */
  push(image: string, ref: string): Promise<void>;
  stop(): Promise<void>;
}

/** GET `path` on the daemon's socket; resolves to the status code. */
function ping(sock: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: sock, path: '/_ping', timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** Unmounts everything still mounted under `dir`, deepest first (dockerd leaves none after a clean stop). */
async function unmountUnder(dir: string): Promise<void> {
  const mounts = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .map((p) => p.replace(/\\040/g, ' '))
    .filter((p) => p === dir || p.startsWith(`${dir}/`))
    .sort()
    .reverse();
  for (const m of mounts) await run('umount', ['-l', m]).catch(() => {});
}

/** Starts dockerd 20.10 with its state under `dir` (which must exist and be empty); waits until it answers. */
export async function startBuildKit(opts: {
  dir: string;
  insecureRegistries?: string[];
  startTimeoutMs?: number;
  /** Stop dockerd on SIGINT/SIGTERM and exit (default true); false when the caller has its own clean-up chain. */
  handleSignals?: boolean;
}): Promise<BuildKit> {
  const dir = opts.dir;
  const sock = join(dir, 'docker.sock');
  const cfg = join(dir, 'cli-config');
  mkdirSync(cfg, { recursive: true });
  writeFileSync(join(cfg, 'config.json'), '{}');
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: `unix://${sock}`, DOCKER_CONFIG: cfg, DOCKER_BUILDKIT: '1', BUILDKIT_PROGRESS: 'plain' };
  let log = '';
  const daemon: ChildProcess = spawn(
    DOCKERD,
    [
      '--host',
      `unix://${sock}`,
      '--data-root',
      join(dir, 'data'),
      '--exec-root',
      join(dir, 'exec'),
      '--pidfile',
      join(dir, 'docker.pid'),
      '--iptables=false',
      '--ip-forward=false',
      '--ip-masq=false',
      '--bridge=none',
      '--storage-driver=overlay2',
      ...(opts.insecureRegistries ?? []).flatMap((r) => ['--insecure-registry', r]),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  daemon.stderr!.on('data', (d) => {
    log = (log + d).slice(-16 * 1024);
  });

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (daemon.exitCode === null && daemon.signalCode === null) {
      const gone = new Promise((r) => daemon.once('exit', r));
      daemon.kill('SIGTERM');
      const t = setTimeout(() => daemon.kill('SIGKILL'), 30_000);
      await gone;
      clearTimeout(t);
    }
    await unmountUnder(dir);
    rmSync(dir, { recursive: true, force: true });
  };
  // Interrupted, the bench still stops its dockerd and removes its state before exiting.
  const onSignal = (sig: NodeJS.Signals) => {
    void stop().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  if (opts.handleSignals !== false) {
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }

  const docker = async (args: string[], o: { input?: string } = {}): Promise<string> => {
    try {
      if (o.input !== undefined) {
        return await new Promise((resolve, reject) => {
          const c = execFile(DOCKER, args, { env, maxBuffer: 64 << 20 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
          c.stdin!.end(o.input);
        });
      }
      return (await run(DOCKER, args, { env, maxBuffer: 64 << 20 })).stdout;
    } catch (err) {
      const e = err as { stderr?: string };
      throw new Error(`docker ${args.join(' ')} failed: ${e.stderr ?? err}`);
    }
  };

  try {
    const deadline = Date.now() + (opts.startTimeoutMs ?? 60_000);
    for (;;) {
      if (daemon.exitCode !== null) throw new Error(`dockerd exited with ${daemon.exitCode}:\n${log}`);
      if ((await ping(sock).catch(() => 0)) === 200) break;
      if (Date.now() > deadline) throw new Error(`dockerd did not answer on ${sock}:\n${log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    dir,
    env,
    docker,
    async build(context, { tag, noCache }) {
      await docker(['build', '--network', 'host', '-q', '-t', tag, ...(noCache ? ['--no-cache'] : []), context]);
    },
    async prune() {
      await docker(['builder', 'prune', '-af']);
    },
    async load(tarFile) {
      await docker(['load', '-q', '-i', tarFile]);
    },
    async push(image, ref) {
      await docker(['tag', image, ref]);
      await docker(['push', '-q', ref]);
    },
    stop,
  };
}
