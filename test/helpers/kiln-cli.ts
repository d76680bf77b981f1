/** Runs the kiln CLI from sources in a child process, as a user would, and collects its output. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
const DEV_ENTRY = fileURLToPath(new URL('../../src/cli/dev.ts', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  root?: string;
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
}

/** `kiln [--root ROOT] ...args`; never throws on a non-zero exit. */
export function kiln(args: string[], opts: CliOptions = {}): Promise<CliResult> {
  const full = opts.root ? ['--root', opts.root, ...args] : args;
  return new Promise((resolve, reject) => {
    // KILN_TEST_VIA_BIN=1 runs the installed command instead (bin/kiln: launcher, resident builder, dist/), to
    // check that a served invocation behaves as an in-process one.
    const [cmd, argv] = process.env.KILN_TEST_VIA_BIN ? [`${REPO}/bin/kiln`, full] : [process.execPath, ['--import', 'tsx', DEV_ENTRY, ...full]];
    const child = spawn(cmd, argv, {
      cwd: opts.cwd ?? REPO,
      env: { ...process.env, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}
