import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from './serve-helper.js';
import { kiln } from '../../helpers/kiln-cli.js';

const DEV_ENTRY = fileURLToPath(new URL('../../../src/cli/dev.ts', import.meta.url));

test('kiln serve on a unix socket: mode 0660, a stale socket file is replaced, a live one is refused', async () => {
  const root = mkdtempSync(join(tmpdir(), 'kiln-unix-root-'));
  const dir = mkdtempSync(join(tmpdir(), 'kiln-unix-'));
  const sock = join(dir, 'run', 'kiln.sock');
  try {
    assert.is((await kiln(['base', 'busybox'], { root })).code, 0);
    // A leftover socket path from a server that died.
    const first = spawn(process.execPath, ['--import', 'tsx', DEV_ENTRY, '--root', root, 'serve', '--listen', `unix://${sock}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    first.stdout!.on('data', (d) => (out += d));
    for (let i = 0; i < 300 && !out.includes('listening'); i++) await new Promise((r) => setTimeout(r, 100));
    assert.match(out, /listening on unix:\/\//);
    first.kill('SIGKILL');
    await new Promise((r) => first.on('exit', r));
    assert.ok(existsSync(sock), 'the killed server left its socket file');

    const server = spawn(process.execPath, ['--import', 'tsx', DEV_ENTRY, '--root', root, 'serve', '--listen', `unix://${sock}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    out = '';
    server.stdout!.on('data', (d) => (out += d));
    for (let i = 0; i < 300 && !out.includes('listening'); i++) await new Promise((r) => setTimeout(r, 100));
    assert.match(out, /listening on unix:\/\//);
    assert.is(statSync(sock).mode & 0o777, 0o660);

    const cfg = join(dir, 'docker');
    writeFileSync(join(dir, 'config.json'), '{}');
    const images = await run('docker', ['-H', `unix://${sock}`, 'images', '--format', '{{.Repository}}'], { env: { DOCKER_CONFIG: cfg } });
    assert.is(images.code, 0, images.stderr);
    assert.match(images.stdout, /busybox/);

    const second = await kiln(['serve', '--listen', `unix://${sock}`], { root, timeoutMs: 30_000 });
    assert.is(second.code, 5, second.stderr);
    assert.match(second.stderr, /another server is listening/);

    server.kill('SIGTERM');
    await new Promise((r) => server.on('exit', r));
    assert.not.ok(existsSync(sock), 'a clean stop removes the socket');
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(root, { recursive: true, force: true });
  }
});

test.run();
