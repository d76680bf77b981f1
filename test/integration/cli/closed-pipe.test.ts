/**
 * A reader that leaves early (`kiln images | head -1`): the next write to stdout fails with EPIPE. kiln drops the
 * output and finishes the command; no stack trace, no "internal error", exit status as if the reader had stayed.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from '../../helpers/kiln-cli.js';

let dir: string;
test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-pipe-'));
});
test.after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs bin/kiln with its stdout's read end closed before kiln writes anything. */
function withClosedStdout(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(join(REPO, 'bin/kiln'), ['--root', join(dir, 'root'), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, KILN_DAEMON: '0' },
  });
  child.stdout.destroy();
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stderr })));
}

for (const args of [['--help'], ['images', '--format', 'json'], ['images'], ['ps', '-a']]) {
  test(`kiln ${args.join(' ')} | (reader gone): exit 0, nothing on stderr`, async () => {
    const r = await withClosedStdout(args);
    assert.is(r.stderr, '', 'no EPIPE trace');
    assert.is(r.code, 0);
  });
}

test.run();
