/**
 * Entry of the resident builder process, started by the client (src/cli/daemon/client.ts) as
 * `node dist/cli/daemon/main.js ROOT KEY` in its own session, with cwd `/` and its output in
 * `<root>/daemon/KEY.log`. It re-derives its key from its own environment and refuses to start when that
 * differs from KEY (a client must never reach a daemon with another environment).
 */
import { fileURLToPath } from 'node:url';
import { daemonTargetFor, readBuildId } from './identity.js';
import { startDaemonServer } from './server.js';

const DEFAULT_IDLE_SECONDS = 300;

async function run(): Promise<number> {
  const [root, key] = process.argv.slice(2);
  const distDir = fileURLToPath(new URL('../../', import.meta.url));
  const buildId = readBuildId(distDir);
  if (!root || !key || !buildId) {
    process.stderr.write('usage: node dist/cli/daemon/main.js ROOT KEY (from a built kiln)\n');
    return 2;
  }
  const target = daemonTargetFor(['--root', root, 'build'], process.env, '/', buildId);
  if ('skip' in target || target.key !== key) {
    process.stderr.write(`kiln daemon: key ${key} does not match this environment (${'skip' in target ? target.skip : target.key}); not starting\n`);
    return 2;
  }
  const idle = Number(process.env.KILN_DAEMON_IDLE_SECONDS ?? DEFAULT_IDLE_SECONDS);
  const daemon = await startDaemonServer({ target, distDir, buildId, idleMs: (Number.isFinite(idle) && idle > 0 ? idle : DEFAULT_IDLE_SECONDS) * 1000 });
  await daemon.done;
  return 0;
}

run().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`kiln daemon: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(70);
  },
);
