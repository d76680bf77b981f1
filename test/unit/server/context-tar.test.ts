import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packContext } from '../../../src/cli/remote/context-tar.js';
import { unpackContext } from '../../../src/server/context-ingest.js';

async function bytesOf(dir: string, dockerfile?: string): Promise<{ tar: Buffer; name: string }> {
  const c = await packContext(dir, dockerfile);
  const chunks: Buffer[] = [];
  for await (const x of c.stream) chunks.push(x as Buffer);
  return { tar: Buffer.concat(chunks), name: c.dockerfile };
}

test('packContext() applies .dockerignore, keeps the Dockerfile and .dockerignore, and round-trips through unpackContext', async () => {
  const ctx = mkdtempSync(join(tmpdir(), 'kiln-pack-'));
  const out = mkdtempSync(join(tmpdir(), 'kiln-pack-out-'));
  writeFileSync(join(ctx, 'Dockerfile'), 'FROM busybox\n');
  writeFileSync(join(ctx, '.dockerignore'), '*.log\nbuild\n!build/keep.txt\nDockerfile\n');
  writeFileSync(join(ctx, 'a.txt'), 'a');
  writeFileSync(join(ctx, 'debug.log'), 'secret');
  mkdirSync(join(ctx, 'build'));
  writeFileSync(join(ctx, 'build', 'drop.o'), 'x');
  writeFileSync(join(ctx, 'build', 'keep.txt'), 'k');
  symlinkSync('a.txt', join(ctx, 'link'));
  const { tar, name } = await bytesOf(ctx);
  assert.is(name, 'Dockerfile');
  async function* once() {
    yield tar;
  }
  await unpackContext(once(), out, { maxBytes: 1 << 20 });
  const list = readdirSync(out, { recursive: true }).map(String).sort();
  assert.equal(list, ['.dockerignore', 'Dockerfile', 'a.txt', 'build', 'build/keep.txt', 'link']);
  assert.is(readFileSync(join(out, 'link'), 'utf8'), 'a');
  rmSync(ctx, { recursive: true, force: true });
  rmSync(out, { recursive: true, force: true });
});

test('packContext() gives identical bytes for an unchanged context, with an outside Dockerfile under a fixed name', async () => {
  const ctx = mkdtempSync(join(tmpdir(), 'kiln-pack-'));
  const df = join(mkdtempSync(join(tmpdir(), 'kiln-df-')), 'Dockerfile.app');
  writeFileSync(df, 'FROM busybox\n');
  writeFileSync(join(ctx, 'x.txt'), 'x');
  const a = await bytesOf(ctx, df);
  const b = await bytesOf(ctx, df);
  assert.match(a.name, /^\.dockerfile\.[0-9a-f]{20}$/);
  assert.is(a.name, b.name);
  assert.ok(a.tar.equals(b.tar), 'same bytes, so the server can reuse its unpacked context');
  rmSync(ctx, { recursive: true, force: true });
});

test.run();
