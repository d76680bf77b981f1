/**
 * Which resident builder serves an invocation, if any. A daemon belongs to one state root, one build of kiln
 * (`dist/build-id`, written by `npm run build`) and one process environment: the variables it reads itself
 * (PATH for runc and tar, HOME and DOCKER_CONFIG for registry credentials, proxies, KILN_*). A client whose
 * environment differs there gets a daemon of its own, so a build never runs with another shell's settings.
 * Per-invocation variables (build args from the environment, `--secret env=`, SSH_AUTH_SOCK, SOURCE_DATE_EPOCH,
 * TERM) travel with each request instead and are not part of the identity.
 * Loaded by the client on every `kiln build`: node built-ins only, no hashing library (a 3 ms import).
 */
import { readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { defaultRoot } from '../../config.js';

/** Variables the daemon process itself reads, so they must match between a client and its daemon. */
const DAEMON_ENV = new Set([
  'PATH', 'HOME', 'USER', 'LOGNAME', 'TMPDIR', 'TZ', 'LANG', 'LC_ALL',
  'DOCKER_CONFIG', 'XDG_CONFIG_HOME', 'XDG_DATA_HOME', 'XDG_RUNTIME_DIR',
  'NODE_OPTIONS', 'NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE', 'SSL_CERT_DIR',
  'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'ALL_PROXY', 'http_proxy', 'https_proxy', 'no_proxy', 'all_proxy',
]);

/** KILN_* variables that only the client reads (they decide whether and where to go, not how to build). */
const CLIENT_ONLY_KILN_ENV = new Set(['KILN_DAEMON', 'KILN_HOST', 'KILN_DEBUG', 'KILN_LAUNCHER_DEBUG']);

/** A unix socket path must fit sun_path (108 bytes on Linux, with its NUL). */
const MAX_SOCKET_PATH = 100;

export interface DaemonTarget {
  root: string;
  /** Names the daemon: a hash of the kiln build, the root and the daemon-relevant environment. */
  key: string;
  /** `<root>/daemon`: sockets and logs, mode 0700. */
  dir: string;
  socket: string;
}

/**
 * The identity of this kiln's dist/: the stamp `npm run build` writes, plus the modification time (ns) of
 * dist/cli/main.js, which every compile rewrites, so even a bare `tsc` run retires the daemons of the old code.
 * Absent when run from sources or not built: no daemon then. native/launcher.c computes the same string.
 */
export function readBuildId(distDir: string): string | undefined {
  try {
    const stamp = readFileSync(join(distDir, 'build-id'), 'utf8').trim();
    if (!stamp) return undefined;
    return `${stamp}@${statSync(join(distDir, 'cli', 'main.js'), { bigint: true }).mtimeNs}`;
  } catch {
    return undefined;
  }
}

/** True for `KILN_DAEMON=0|false|no|off`: every build runs in its own process. */
export function daemonDisabled(env: NodeJS.ProcessEnv): boolean {
  return /^(0|false|no|off)$/i.test(env.KILN_DAEMON ?? '');
}

/**
 * The daemon for `args` (argv without node and script), or why there is none: a command other than `build`,
 * a remote host, stdin (`-`), `--no-daemon`, help. Decided from the raw words so the client loads no parser;
 * anything unusual builds in-process, which is always correct.
 */
export function daemonTargetFor(args: string[], env: NodeJS.ProcessEnv, cwd: string, buildId: string): DaemonTarget | { skip: string } {
  if (daemonDisabled(env)) return { skip: 'KILN_DAEMON disables it' };
  if (env.KILN_HOST) return { skip: 'a remote host' };
  let root: string | undefined;
  let command: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--root') { root = args[++i]; continue; }
    if (a.startsWith('--root=')) { root = a.slice(7); continue; }
    if (a === '-H' || a === '--host' || a.startsWith('--host=') || (a.startsWith('-H') && a.length > 2)) return { skip: 'a remote host' };
    if (a === '--no-daemon') return { skip: '--no-daemon' };
    if (a === '-' || a === '--file=-' || a === '-f-') return { skip: 'stdin' };
    if (a === '--help' || a === '-h') return { skip: 'help' };
    if (command === undefined && !a.startsWith('-')) command = a;
  }
  if (command !== 'build') return { skip: 'not a build' };
  if (root === '') return { skip: 'an empty --root' };
  const rootDir = root !== undefined ? resolve(cwd, root) : defaultRoot(env, cwd);
  const key = identityHash([buildId, rootDir, ...daemonEnv(env)].join('\0'));
  const dir = join(rootDir, 'daemon');
  const socket = join(dir, `${key}.sock`);
  if (socket.length > MAX_SOCKET_PATH) return { skip: 'the root path is too long for a unix socket' };
  return { root: rootDir, key, dir, socket };
}

/** `K=V` lines of the daemon-relevant environment, sorted. */
export function daemonEnv(env: NodeJS.ProcessEnv): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) continue;
    if (DAEMON_ENV.has(k) || (k.startsWith('KILN_') && !CLIENT_ONLY_KILN_ENV.has(k))) out.push(`${k}=${v}`);
  }
  return out.sort();
}

/**
 * 64 bits of two FNV-1a hashes as 16 hex digits. Not a security boundary (the socket's mode is): it only has to
 * tell builds, roots and environments apart.
 */
export function identityHash(text: string): string {
  // Over UTF-8 bytes, so native/launcher.c (which sees bytes) computes the same key.
  const bytes = Buffer.from(text, 'utf8');
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995) ^ (b >>> 15);
  }
  return (a >>> 0).toString(16).padStart(8, '0') + (b >>> 0).toString(16).padStart(8, '0');
}
