/**
 * Outgrowing one machine: three `kiln serve` processes on three state roots, configured with the same registry
 * cache, build one project in turn through the stock docker CLI. The first runs every step; the second and
 * third run none (every step answered by the registry cache) and give the same image.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { docker, startServe, type Served } from '../server/serve-helper.js';
import { startRegistry, skopeo, type TestRegistry } from '../../helpers/registry.js';

let reg: TestRegistry;
let dir: string;
const servers: Served[] = [];

test.before(async () => {
  reg = await startRegistry();
  dir = await mkdtemp(join(tmpdir(), 'kiln-three-servers-'));
});
test.after(async () => {
  for (const s of servers) await s.stop().catch(() => undefined);
  await reg?.stop();
  await rm(dir, { recursive: true, force: true });
});

test('three servers sharing a registry cache: the second and third run no RUN step and build the same image', async () => {
  const ref = `${reg.host}/shared/cache:project`;
  const args = ['--cache-from', `type=registry,ref=${ref}`, '--cache-to', `type=registry,ref=${ref},mode=max`];
  for (let i = 0; i < 3; i++) servers.push(await startServe({ args }));
  const ctx = join(dir, 'project');
  await mkdir(ctx, { recursive: true });
  await writeFile(
    join(ctx, 'Dockerfile'),
    [
      'FROM busybox AS deps',
      'RUN echo deps-ran-$((40+2)) && head -c 50000 /dev/urandom > /deps.bin',
      'FROM busybox',
      'COPY --from=deps /deps.bin /app/deps.bin',
      'COPY app.txt /app/',
      'RUN echo final-ran-$((40+2)) && wc -c /app/deps.bin /app/app.txt > /app/sizes',
      '',
    ].join('\n'),
  );
  await writeFile(join(ctx, 'app.txt'), 'hello\n');

  const ids: string[] = [];
  for (const [i, s] of servers.entries()) {
    const r = await docker(s, ['build', '-t', 'project:1', '.'], { cwd: ctx });
    assert.is(r.code, 0, `server ${i + 1}: ${r.stdout}\n${r.stderr}\n${s.logs()}`);
    if (i === 0) {
      assert.match(r.stdout, /deps-ran-42/);
      assert.match(r.stdout, /final-ran-42/);
    } else {
      // No RUN step ran: their output (the shell's arithmetic, not the step's text) never appears, and every step says which cache answered.
      assert.not.match(r.stdout, /-ran-42/, `server ${i + 1} ran a step:\n${r.stdout}`);
      assert.ok((r.stdout.match(/Using cache \(imported from /g) ?? []).length >= 4, r.stdout);
    }
    const id = await docker(s, ['image', 'inspect', '--format', '{{.Id}}', 'project:1']);
    assert.is(id.code, 0, id.stderr);
    ids.push(id.stdout.trim());
  }
  assert.is(ids[1], ids[0]);
  assert.is(ids[2], ids[0]);
  const raw = JSON.parse(await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${ref}`]));
  assert.is(raw.config.mediaType, 'application/vnd.buildkit.cacheconfig.v0');
});

test.run();
