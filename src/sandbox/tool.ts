/**
 * Runs host tools (mount, umount, ip, iptables, runc) without a shell and collects their output. Children get
 * only stdio: kiln's other descriptors never reach them (Node opens its own with O_CLOEXEC, and we pass no extras).
 */
import { spawn } from 'node:child_process';

export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `cmd args…`; resolves with its exit status and output, never rejects on a non-zero exit. */
export function tool(
  cmd: string,
  args: string[],
  opts: { input?: string; signal?: AbortSignal; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
      signal: opts.signal,
      cwd: opts.cwd,
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
    if (child.stdin) {
      child.stdin.on('error', () => {}); // the tool may exit without reading its input
      child.stdin.end(opts.input);
    }
  });
}
