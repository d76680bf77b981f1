/**
 * Which resident builder serves an invocation, if any. A daemon belongs to one state root, one build of kiln
 * (`dist/build-id`, written by `npm run build`) and one process environment: the variables it reads itself
 * (PATH for runc and tar, HOME and DOCKER_CONFIG for registry credentials, proxies, KILN_*). A client whose
 * environment differs there gets a daemon of its own, so a build never runs with another shell's settings.
 * Per-invocation variables (build args from the environment, `--secret env=`, SSH_AUTH_SOCK, SOURCE_DATE_EPOCH,
 * TERM) travel with each request instead and are not part of the identity.
 * Loaded by the client on every `kiln build`: node built-ins only, no hashing library (a 3 ms import).
 *
 * native/launcher.c implements the same rules in C (it decides before Node starts). `LAUNCHER_RULES` below is the
 * one table of them; test/unit/cli/launcher-rules.test.ts reads launcher.c's source text and fails when its
 * lists, skip rules, constants or hash differ from this table, so change both together.
 */
import { readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { defaultRoot } from '../../config.js';

/** An argument that makes the launcher and the client leave an invocation to the in-process CLI. */
export interface SkipArg {
  /** Words equal to one of these skip. */
  exact: readonly string[];
  /** Words that start with one of these (or equal it) skip. */
  prefix: readonly string[];
  reason: string;
}

/** The rules both deciders apply; native/launcher.c mirrors each field (checked by a unit test, see above). */
export const LAUNCHER_RULES = {
  /** Variables the daemon process itself reads, so they must match between a client and its daemon. */
  daemonEnv: [
    'PATH',
    'HOME',
    'USER',
    'LOGNAME',
    'TMPDIR',
    'TZ',
    'LANG',
    'LC_ALL',
    'DOCKER_CONFIG',
    'XDG_CONFIG_HOME',
    'XDG_DATA_HOME',
    'XDG_RUNTIME_DIR',
    'NODE_OPTIONS',
    'NODE_EXTRA_CA_CERTS',
    'SSL_CERT_FILE',
    'SSL_CERT_DIR',
    'HTTP_PROXY',
    'HTTPS_PROXY',
    'NO_PROXY',
    'ALL_PROXY',
    'http_proxy',
    'https_proxy',
    'no_proxy',
    'all_proxy',
  ],
  /** Every other variable with this prefix is daemon-relevant too ... */
  kilnEnvPrefix: 'KILN_',
  /** ... except these, which only the client reads (they decide whether and where to go, not how to build). */
  clientOnlyKilnEnv: ['KILN_DAEMON', 'KILN_HOST', 'KILN_DEBUG', 'KILN_LAUNCHER_DEBUG'],
  /** KILN_DAEMON values (any case) that turn the daemon off. */
  disabledValues: ['0', 'false', 'no', 'off'],
  /**
   * The commands a daemon serves: builds, and pushes (a `docker push` goes to a running daemon too; a push
   * through the resident builder skips Node's start-up and reuses the open store).
   */
  commands: ['build', 'push'],
  /** The option naming the state root (`--root DIR` or `--root=DIR`), read before the skip rules. */
  rootFlag: '--root',
  /** Checked in this order on every word but a --root value; the first match decides. */
  skipArgs: [
    { exact: ['--host'], prefix: ['--host=', '-H'], reason: 'a remote host' }, // -H, -Hhost, --host=…
    { exact: ['--no-daemon'], prefix: [], reason: '--no-daemon' },
    { exact: ['-', '--file=-', '-f-'], prefix: [], reason: 'stdin' },
    { exact: ['--help', '-h'], prefix: [], reason: 'help' },
  ] as readonly SkipArg[],
  /** A unix socket path must fit sun_path (108 bytes on Linux, with its NUL). */
  maxSocketPath: 100,
  /** identityHash(): two 32-bit FNV-1a-style lanes; b also folds in its own bits shifted right. */
  hash: { seedA: 0x811c9dc5, seedB: 0x01000193 ^ 0x5bd1e995, primeA: 0x01000193, primeB: 0x5bd1e995, shiftB: 15 },
} as const;

const DAEMON_ENV = new Set<string>(LAUNCHER_RULES.daemonEnv);
const CLIENT_ONLY_KILN_ENV = new Set<string>(LAUNCHER_RULES.clientOnlyKilnEnv);
const DISABLED = new Set<string>(LAUNCHER_RULES.disabledValues);

export interface DaemonTarget {
  root: string;
  /** Names the daemon: a hash of the kiln build, the root and the daemon-relevant environment. */
  key: string;
  /** `<root>/daemon`: sockets and logs, mode 0700. */
  dir: string;
  socket: string;
  /** The command served (`build` or `push`). */
  command: string;
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
  return DISABLED.has((env.KILN_DAEMON ?? '').toLowerCase());
}

/**
 * The daemon for `args` (argv without node and script), or why there is none: a command other than `build`/`push`,
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
    if (a === LAUNCHER_RULES.rootFlag) {
      root = args[++i];
      continue;
    }
    if (a.startsWith(`${LAUNCHER_RULES.rootFlag}=`)) {
      root = a.slice(LAUNCHER_RULES.rootFlag.length + 1);
      continue;
    }
    const skip = LAUNCHER_RULES.skipArgs.find((r) => r.exact.includes(a) || r.prefix.some((p) => a.startsWith(p)));
    if (skip) return { skip: skip.reason };
    if (command === undefined && !a.startsWith('-')) command = a;
  }
  if (command === undefined || !(LAUNCHER_RULES.commands as readonly string[]).includes(command)) return { skip: 'not a build or push' };
  if (root === '') return { skip: 'an empty --root' };
  const rootDir = root !== undefined ? resolve(cwd, root) : defaultRoot(env, cwd);
  const key = identityHash([buildId, rootDir, ...daemonEnv(env)].join('\0'));
  const dir = join(rootDir, 'daemon');
  const socket = join(dir, `${key}.sock`);
  if (socket.length > LAUNCHER_RULES.maxSocketPath) return { skip: 'the root path is too long for a unix socket' };
  return { root: rootDir, key, dir, socket, command };
}

/** `K=V` lines of the daemon-relevant environment, sorted. */
export function daemonEnv(env: NodeJS.ProcessEnv): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) continue;
    if (DAEMON_ENV.has(k) || (k.startsWith(LAUNCHER_RULES.kilnEnvPrefix) && !CLIENT_ONLY_KILN_ENV.has(k))) out.push(`${k}=${v}`);
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
  const { seedA, seedB, primeA, primeB, shiftB } = LAUNCHER_RULES.hash;
  let a: number = seedA;
  let b: number = seedB;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    a = Math.imul(a ^ c, primeA);
    b = Math.imul(b ^ c, primeB) ^ (b >>> shiftB);
  }
  return (a >>> 0).toString(16).padStart(8, '0') + (b >>> 0).toString(16).padStart(8, '0');
}
