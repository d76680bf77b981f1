import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { humanSize } from '../../../src/cli/human-units.js';
import { kiln, REPO } from '../../helpers/kiln-cli.js';
import { skopeo, startRegistry, type TestRegistry } from '../../helpers/registry.js';

let reg: TestRegistry;
let dir: string;

test.before(async () => {
  reg = await startRegistry();
  dir = await mkdtemp(join(tmpdir(), 'kiln-build-push-'));
});
test.after(async () => {
  await reg?.stop();
  await rm(dir, { recursive: true, force: true });
});

test('--push sends the built image to a registry, and a fresh root builds FROM it by pulling', async () => {
  const rootA = join(dir, 'a');
  assert.is((await kiln(['base', 'busybox'], { root: rootA })).code, 0);
  const ref = `${reg.host}/kiln/hello:1`;
  const built = await kiln(['build', '-t', ref, '--push', join(REPO, 'fixtures/hello')], { root: rootA });
  assert.is(built.code, 0, built.stderr);
  const raw = JSON.parse(await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${ref}`]));
  assert.is(raw.layers.length, 4);

  const rootB = join(dir, 'b');
  const ctx = await mkdtemp(join(dir, 'ctx-'));
  const child = await kiln(['build', '-t', 'child:1', '-f', '-', ctx], { root: rootB, input: `FROM ${ref}\nRUN cat /app/built.txt > /copy.txt\n` });
  assert.is(child.code, 0, child.stderr);

  // A new image behind the same tag: root B keeps using its copy until --pull asks the registry again.
  const v2 = await kiln(['build', '-t', ref, '--push', '--build-arg', 'GREETING=bonjour', join(REPO, 'fixtures/hello')], { root: rootA });
  assert.is(v2.code, 0, v2.stderr);
  const df = `FROM ${ref}\nRUN cat /app/built.txt > /copy.txt\n`;
  const stale = await kiln(['build', '-t', 'child:2', '--progress', 'plain', '-f', '-', ctx], { root: rootB, input: df });
  assert.match(stale.stderr, /CACHED/);
  const pulled = await kiln(['build', '-t', 'child:3', '--pull', '--progress', 'plain', '--explain', '-f', '-', ctx], { root: rootB, input: df });
  assert.is(pulled.code, 0, pulled.stderr);
  assert.match(pulled.stderr, /cache miss: base image changed/);
});

test("a FROM pull shows each layer's bytes in plain progress (buildx lines), a few lines per layer, not one per MiB", async () => {
  const rootA = join(dir, 'layers-a');
  assert.is((await kiln(['base', 'busybox'], { root: rootA })).code, 0);
  const ref = `${reg.host}/kiln/big:1`;
  const src = await mkdtemp(join(dir, 'ctx-'));
  // ~8 MB of random bytes: the registry client reports it MiB by MiB.
  const pushed = await kiln(['build', '-t', ref, '--push', '-f', '-', src], { root: rootA, input: 'FROM busybox\nRUN head -c 8000000 /dev/urandom > /big\n' });
  assert.is(pushed.code, 0, pushed.stderr);
  const layers = (
    JSON.parse(await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${ref}`])) as { layers: Array<{ digest: string; size: number }> }
  ).layers;
  assert.ok(
    layers.some((l) => l.size > 7_000_000),
    'one layer of several MiB',
  );

  const ctx = await mkdtemp(join(dir, 'ctx-'));
  const started = Date.now();
  const r = await kiln(['build', '--progress', 'plain', '-f', '-', ctx], { root: join(dir, 'layers-c'), input: `FROM ${ref}\nRUN test -s /big\n` });
  const seconds = (Date.now() - started) / 1000;
  assert.is(r.code, 0, r.stderr);
  for (const l of layers) {
    const lines = r.stderr.split('\n').filter((x) => x.startsWith(`#0 ${l.digest} `));
    assert.ok(lines.length >= 2, `${l.digest}: ${lines.join(' | ')}`);
    assert.match(lines[0]!, new RegExp(`^#0 ${l.digest} 0B / ${humanSize(l.size)} \\d+\\.\\ds$`));
    assert.match(lines.at(-1)!, new RegExp(`^#0 ${l.digest} ${humanSize(l.size)} / ${humanSize(l.size)} \\d+\\.\\ds done$`));
    // Start, end, and at most one bytes line a second between them.
    assert.ok(lines.length <= 2 + Math.ceil(seconds), `${lines.length} lines for ${l.digest} in ${seconds}s`);
  }
});

test.run();
