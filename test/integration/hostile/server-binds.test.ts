/**
 * Containers created through `kiln serve` (docker run -v) bind host paths only from directories the operator
 * allowed (`kiln serve --allow-bind DIR`): `-v /:/host`, a path beside the allowed one, and a symlink inside it
 * that leads out are refused before any container starts; the host canary stays untouched and unread.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { plantCanary, type Canary } from './canary.js';
import { docker, startServe, type Served } from '../server/serve-helper.js';

let canary: Canary;
let allowed: string;
let s: Served;

test.before(async () => {
  canary = await plantCanary();
  allowed = mkdtempSync(join(tmpdir(), 'kiln-allowed-bind-'));
  writeFileSync(join(allowed, 'ok.txt'), 'allowed\n');
  symlinkSync(canary.dir, join(allowed, 'leads-out'));
  s = await startServe({ args: ['--allow-bind', allowed] });
});

test.after(async () => {
  await s?.stop();
  await canary?.remove();
  rmSync(allowed, { recursive: true, force: true });
});

const reach = 'cat /h/secret.txt /h/sub/inner.txt 2>&1; ls -la /h; touch /h/pwned; rm -rf /h/empty; true';

for (const [label, source] of [
  ['the host root', '/'],
  ['the canary directory itself', () => canary.dir],
  ['a path climbing out of the allowed directory', () => `${allowed}/../${basename(canary.dir)}`],
  ['a symlink in the allowed directory that leads out', () => `${allowed}/leads-out`],
] as const) {
  test(`docker run -v: ${label} is refused, the host untouched`, async () => {
    const src = typeof source === 'function' ? source() : source;
    const r = await docker(s, ['run', '--rm', '-v', `${src}:/h`, 'busybox', 'sh', '-c', reach]);
    assert.is.not(r.code, 0, `refused: ${r.stdout}`);
    assert.match(r.stderr, /is not allowed by this server/);
    assert.match(r.stderr, /--allow-bind|allows binds from/);
    canary.assertSecretAbsent(label, r.stdout, r.stderr);
    await canary.assertUntouched(label);
  });
}

test('docker run -v from the allowed directory works; named volumes need no grant', async () => {
  const r = await docker(s, [
    'run',
    '--rm',
    '-v',
    `${allowed}:/h:ro`,
    '-v',
    'kiln-hostile-vol:/v',
    'busybox',
    'sh',
    '-c',
    'cat /h/ok.txt; echo v > /v/x; cat /v/x',
  ]);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout, 'allowed\nv\n');
  await docker(s, ['volume', 'rm', 'kiln-hostile-vol']);
  await canary.assertUntouched('allowed bind');
});

test.run();
