import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, rm, symlink, writeFile, mkdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { emitEvent, followEvents, readEvents, type KilnEvent } from '../../../src/events/events.js';

test('events are stored in Docker message shape and read back by time window', async () => {
  const root = await mkdtemp(join(tmpdir(), 'kiln-events-'));
  try {
    emitEvent(root, 'container', 'create', 'c1', { name: 'web', image: 'busybox' });
    // Event times carry sub-millisecond digits: step past the first event's millisecond on both sides of `mid`.
    await new Promise((r) => setTimeout(r, 5));
    const mid = Date.now() * 1e6;
    await new Promise((r) => setTimeout(r, 5));
    emitEvent(root, 'network', 'create', 'n1', { name: 'front', type: 'bridge' });
    const all = await readEvents(root);
    assert.is(all.length, 2);
    assert.equal(all[0]!.Actor, { ID: 'c1', Attributes: { name: 'web', image: 'busybox' } });
    assert.is(all[0]!.status, 'create');
    assert.is(all[0]!.from, 'busybox');
    assert.is(all[1]!.status, undefined);
    assert.is(all[1]!.scope, 'local');
    assert.is(Math.floor(all[1]!.timeNano / 1e9), all[1]!.time);
    assert.equal(
      (await readEvents(root, { sinceNano: mid })).map((e) => e.Actor.ID),
      ['n1'],
    );
    assert.equal(
      (await readEvents(root, { untilNano: mid })).map((e) => e.Actor.ID),
      ['c1'],
    );
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('a follower sees events appended after it started, not before', async () => {
  const root = await mkdtemp(join(tmpdir(), 'kiln-events-'));
  try {
    emitEvent(root, 'volume', 'create', 'old');
    const seen: KilnEvent[] = [];
    const ac = new AbortController();
    const done = followEvents(root, (e) => seen.push(e), { signal: ac.signal, pollMs: 10 });
    await new Promise((r) => setTimeout(r, 30));
    emitEvent(root, 'volume', 'destroy', 'new');
    for (let i = 0; i < 500 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    ac.abort();
    await done;
    assert.equal(
      seen.map((e) => `${e.Action} ${e.Actor.ID}`),
      ['destroy new'],
    );
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('an events file planted as a symlink is never written through', async () => {
  const root = await mkdtemp(join(tmpdir(), 'kiln-events-'));
  try {
    const canary = join(root, 'canary');
    await writeFile(canary, 'untouched');
    await mkdir(join(root, 'events'));
    await symlink(canary, join(root, 'events', 'events.jsonl'));
    emitEvent(root, 'container', 'start', 'c1');
    assert.is(await readFile(canary, 'utf8'), 'untouched');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test.run();
