/** Starts `kiln serve` from sources on a loopback port and runs the real docker CLI against it. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../helpers/registry.js';
import { kiln } from '../../helpers/kiln-cli.js';

const DEV_ENTRY = fileURLToPath(new URL('../../../src/cli/dev.ts', import.meta.url));

export interface Served {
  root: string;
  port: number;
  host: string;
  token?: string;
  /** A DOCKER_CONFIG dir whose config.json sends the token (when there is one). */
  dockerConfig: string;
  proc: ChildProcess;
  logs(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface CmdResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `kiln base busybox` into a fresh root, then `kiln serve` on 127.0.0.1. */
export async function startServe(opts: { token?: boolean; args?: string[]; root?: string } = {}): Promise<Served> {
  const root = opts.root ?? mkdtempSync(join(tmpdir(), 'kiln-serve-root-'));
  const work = mkdtempSync(join(tmpdir(), 'kiln-serve-cfg-'));
  const base = await kiln(['base', 'busybox'], { root });
  if (base.code !== 0) throw new Error(`kiln base busybox failed: ${base.stderr}`);
  const port = await freePort();
  const args = ['--import', 'tsx', DEV_ENTRY, '--root', root, 'serve', '--listen', `tcp://127.0.0.1:${port}`, ...(opts.args ?? [])];
  let token: string | undefined;
  const dockerConfig = join(work, 'docker');
  mkdirSync(dockerConfig);
  if (opts.token) {
    token = `tok-${Math.random().toString(36).slice(2)}-${Date.now()}-abcdef`;
    writeFileSync(join(work, 'token'), `${token}\n`, { mode: 0o600 });
    args.push('--token-file', join(work, 'token'));
    writeFileSync(join(dockerConfig, 'config.json'), JSON.stringify({ HttpHeaders: { Authorization: `Bearer ${token}` } }));
  } else writeFileSync(join(dockerConfig, 'config.json'), '{}');
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (err += d));
  // 'close', not 'exit': its stderr is fully read by then (the last lines say why it stopped).
  const exited = new Promise<number | null>((r) => proc.on('close', (code) => r(code)));
  const deadline = Date.now() + 30_000;
  while (!out.includes('listening on')) {
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`kiln serve did not start: ${out}\n${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    root,
    port,
    host: `tcp://127.0.0.1:${port}`,
    token,
    dockerConfig,
    proc,
    logs: () => err,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null) proc.kill(signal);
      const t = setTimeout(() => proc.kill('SIGKILL'), 30_000);
      const code = await exited;
      clearTimeout(t);
      rmSync(work, { recursive: true, force: true });
      if (!opts.root) rmSync(root, { recursive: true, force: true });
      return code;
    },
  };
}

/** Runs a command; never throws on a non-zero exit. */
export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number; input?: string } = {}): Promise<CmdResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const t = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 180_000);
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(t);
      resolve({ code: code ?? 128, stdout, stderr });
    });
    // A command that never reads its input may exit before it is written: that is no error of the command's.
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

/** The docker CLI against `s`, legacy builder, with `s`'s client config (token). */
export function docker(
  s: Served,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {},
): Promise<CmdResult> {
  return run('docker', args, {
    cwd: opts.cwd,
    timeoutMs: opts.timeoutMs,
    input: opts.input,
    env: { DOCKER_HOST: s.host, DOCKER_BUILDKIT: '0', DOCKER_CONFIG: s.dockerConfig, ...opts.env },
  });
}
