/**
 * A real registry for tests: Debian's `docker-registry` (Distribution 2.8) on 127.0.0.1, on a free port, with a
 * temporary storage directory and config. Three auth modes:
 *   - `anonymous`: no auth;
 *   - `basic`: htpasswd (bcrypt lines made by apache2-utils' `htpasswd -B`);
 *   - `token`: Bearer tokens from a token server the helper runs (test/helpers/registry-token.ts), whose JWTs the
 *     registry verifies against a throwaway certificate made with openssl.
 *
 *   const reg = await startRegistry({ auth: 'basic', users: { alice: 'secret' } });
 *   try { ... reg.host ... } finally { await reg.stop(); }
 *
 * `stop()` kills the registry (and the token server) and removes every temporary file; it is safe to call twice.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTokenServer, type TokenServer, type TokenServerOptions } from './registry-token.js';

export type RegistryAuth = 'anonymous' | 'basic' | 'token';

export interface StartRegistryOptions {
  auth?: RegistryAuth;
  /** user -> password, for `basic` and `token` (the token server checks them). Default `{ kiln: 'kiln-pass' }`. */
  users?: Record<string, string>;
  /** Token server tuning (`token` mode): token lifetime, `access_token` vs `token` field, anonymous pulls. */
  token?: Omit<TokenServerOptions, 'users' | 'service' | 'issuer' | 'keyPem' | 'certPem'>;
  /** Serve HTTPS with a throwaway CA-less self-signed certificate for 127.0.0.1 and localhost (see `caFile`). */
  tls?: boolean;
  /** Milliseconds to wait for the registry to answer. Default 20 s. */
  startTimeoutMs?: number;
}

export interface TestRegistry {
  /** `127.0.0.1:PORT`: what goes in an image reference. */
  host: string;
  port: number;
  /** `http://127.0.0.1:PORT` (`https://` with `tls`). */
  url: string;
  /** With `tls`: the PEM file of the registry's certificate, to trust it (`--tls-ca`). */
  caFile?: string;
  auth: RegistryAuth;
  users: Record<string, string>;
  /** The registry's storage directory (for tests that inspect or corrupt blobs). */
  storageDir: string;
  /** The token server, in `token` mode. */
  tokenServer?: TokenServer;
  /** The registry's stderr so far (its logs), for diagnosing a failing test. */
  logs(): string;
  stop(): Promise<void>;
}

const REGISTRY_BIN = '/usr/bin/docker-registry';

/** A TCP port nobody listens on right now (the kernel picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Starts a registry; throws when it does not answer within the time limit (its logs in the message). */
export async function startRegistry(opts: StartRegistryOptions = {}): Promise<TestRegistry> {
  const auth = opts.auth ?? 'anonymous';
  const users = opts.users ?? { kiln: 'kiln-pass' };
  const dir = await mkdtemp(join(tmpdir(), 'kiln-registry-'));
  const storageDir = join(dir, 'storage');
  let tokenServer: TokenServer | undefined;
  let child: ChildProcess | undefined;
  let stderr = '';
  let stopped = false;

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child!.once('exit', () => r()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child!.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
    await tokenServer?.stop();
    await rm(dir, { recursive: true, force: true });
  };

  try {
    const port = await freePort();
    let authYaml = '';
    if (auth === 'basic') {
      const lines = Object.entries(users).map(([u, p]) => execFileSync('htpasswd', ['-nbB', '-C', '4', u, p], { encoding: 'utf8' }).trim());
      await writeFile(join(dir, 'htpasswd'), lines.join('\n') + '\n');
      authYaml = `auth:\n  htpasswd:\n    realm: kiln-test\n    path: ${join(dir, 'htpasswd')}\n`;
    } else if (auth === 'token') {
      const keyPem = join(dir, 'token.key');
      const certPem = join(dir, 'token.crt');
      execFileSync(
        'openssl',
        ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyPem, '-out', certPem, '-days', '2', '-subj', '/CN=kiln-test-token-issuer'],
        { stdio: 'ignore' },
      );
      tokenServer = await startTokenServer({ ...opts.token, users, service: 'kiln-test-registry', issuer: 'kiln-test-issuer', keyPem, certPem });
      authYaml =
        `auth:\n  token:\n    realm: ${tokenServer.realm}\n    service: kiln-test-registry\n` +
        `    issuer: kiln-test-issuer\n    rootcertbundle: ${certPem}\n`;
    }
    let tlsYaml = '';
    let caFile: string | undefined;
    if (opts.tls) {
      caFile = join(dir, 'registry.crt');
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-keyout',
          join(dir, 'registry.key'),
          '-out',
          caFile,
          '-days',
          '2',
          '-subj',
          '/CN=127.0.0.1',
          '-addext',
          'subjectAltName=IP:127.0.0.1,DNS:localhost',
        ],
        { stdio: 'ignore' },
      );
      tlsYaml = `  tls:\n    certificate: ${caFile}\n    key: ${join(dir, 'registry.key')}\n`;
    }
    const config = [
      'version: 0.1',
      'log:',
      '  level: warn',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${storageDir}`,
      '  delete:',
      '    enabled: true',
      '  maintenance:',
      '    uploadpurging:',
      '      enabled: false',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      tlsYaml,
      authYaml,
    ].join('\n');
    const configPath = join(dir, 'config.yml');
    await writeFile(configPath, config);

    child = spawn(REGISTRY_BIN, ['serve', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.on('data', (d) => {
      stderr = (stderr + d).slice(-64 * 1024);
    });
    const url = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
    await waitReady(`${url}/v2/`, child, opts.startTimeoutMs ?? 20_000, () => stderr, caFile);
    return { host: `127.0.0.1:${port}`, port, url, caFile, auth, users, storageDir, tokenServer, logs: () => stderr, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** GET `url` (trusting `caFile` for https); resolves to the status, rejects when nothing answers. */
async function probe(url: string, caFile?: string): Promise<number> {
  const ca = caFile ? await readFile(caFile) : undefined;
  return new Promise((resolve, reject) => {
    const req = (url.startsWith('https') ? httpsGet : httpGet)(url, { ca, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

async function waitReady(url: string, child: ChildProcess, timeoutMs: number, logs: () => string, caFile?: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited with ${child.exitCode}:\n${logs()}`);
    try {
      const status = await probe(url, caFile);
      if (status === 200 || status === 401) return;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) throw new Error(`docker-registry did not answer on ${url} within ${timeoutMs} ms:\n${logs()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Runs `skopeo` with `args` (tls verification off for the loopback registry); returns stdout; throws with stderr. */
export function skopeo(args: string[], opts: { timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('skopeo', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`skopeo ${args.join(' ')} exited ${code}: ${err}`));
    });
  });
}

/** skopeo flags for talking to a test registry: no TLS verification and, when it has users, the first one's credentials. */
export function skopeoRegistryFlags(reg: TestRegistry, kind: 'src' | 'dest' | 'inspect'): string[] {
  const prefix = kind === 'inspect' ? '--' : `--${kind}-`;
  const flags = [`${prefix}tls-verify=false`];
  if (reg.auth !== 'anonymous') {
    const [u, p] = Object.entries(reg.users)[0]!;
    flags.push(`${prefix}creds=${u}:${p}`);
  }
  return flags;
}
