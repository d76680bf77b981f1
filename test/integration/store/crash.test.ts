/** SIGKILL at any point leaves the store consistent; the next start sweeps what the dead process left. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openRoot } from '../../../src/cache/root.js';
import { collectGarbage } from '../../../src/cache/gc.js';
import { verifyStore } from '../../../src/cache/verify.js';

const CHILD = fileURLToPath(new URL('./store-child.ts', import.meta.url));
const dirs: string[] = [];
const children: ChildProcess[] = [];

test.after(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function tempRootDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'kiln-crash-'));
  dirs.push(d);
  return d;
}

/** Starts a child; resolves with it and its `ready` line once it prints one. */
function start(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ child: ChildProcess; line: string; exited: Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  children.push(child);
  const exited = new Promise<void>((r) => child.once('close', () => r()));
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const line = out.split('\n').find((l) => l.startsWith('ready'));
      if (line) resolve({ child, line, exited });
    });
    child.once('close', (code) => reject(new Error(`child exited ${code} before ready: ${err}`)));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('SIGKILL in the middle of a blob write publishes nothing; the next open sweeps the temp file', async () => {
  const dir = await tempRootDir();
  const { child, exited } = await start(['blob', dir]);
  const tmpBefore = await readdir(join(dir, 'tmp'));
  assert.is(tmpBefore.length, 1, 'the child has its own tmp dir');
  const partial = await readdir(join(dir, 'tmp', tmpBefore[0]!));
  assert.is(partial.length, 1, 'with a partial blob in it');
  child.kill('SIGKILL');
  await exited;
  const root = await openRoot(dir);
  const left = await readdir(join(dir, 'tmp'));
  assert.equal(left, [root.tmpDir.split('/').pop()], "only the new process's own tmp dir remains");
  const blobs = await readdir(root.paths.blobs);
  assert.equal(blobs, [], 'no blob became visible');
  assert.equal((await verifyStore(root)).problems, []);
  await root.close();
});

test('SIGKILL while tagging in a loop leaves a valid index and a lock the next process can take', async () => {
  const dir = await tempRootDir();
  for (const delay of [5, 25, 60]) {
    const { child, exited } = await start(['tags', dir, String(delay)]);
    await sleep(delay);
    child.kill('SIGKILL');
    await exited;
    const index = JSON.parse(await readFile(join(dir, 'oci', 'index.json'), 'utf8'));
    assert.ok(Array.isArray(index.manifests), 'index.json is whole JSON');
    const root = await openRoot(dir);
    assert.equal((await verifyStore(root)).problems, []);
    // The killed child may have died holding the store lock: this must not hang.
    const rec = await root.images.resolve(`child-${delay}:0`);
    await root.images.tag(`after-${delay}`, rec.descriptor);
    assert.ok((await root.images.resolve(`after-${delay}`)).refs.includes(`docker.io/library/after-${delay}:latest`));
    await root.close();
  }
});

test('a lease dies with its process: prune keeps the blob while it lives, frees it after SIGKILL', async () => {
  const dir = await tempRootDir();
  const { child, line, exited } = await start(['lease', dir, 'x']);
  const digest = line.split(' ')[1]!;
  const root = await openRoot(dir);
  await collectGarbage(root);
  assert.ok(await root.content.has(digest), 'kept while the lease holder lives');
  child.kill('SIGKILL');
  await exited;
  const r = await collectGarbage(root);
  assert.equal(r.removedBlobs, [digest]);
  assert.equal(await readdir(root.paths.leases), [], 'the dead lease file is gone');
  await root.close();
});

test.run();
