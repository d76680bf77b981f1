import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, rm, truncate, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import {
  listRecords,
  readRecord,
  readStepLog,
  recordLogStream,
  removeRecord,
  resolveRecordRef,
  stepLogPath,
  summarizeRecord,
  writeRecord,
  newRecordId,
} from '../../../src/history/store.js';
import { openStepLog } from '../../../src/history/log-writer.js';
import { rejects } from '../../helpers/assert.js';
import { sampleRecord } from './fixtures.js';

let root = '';
test.before.each(async () => {
  root = await mkdtemp(join(tmpdir(), 'kiln-history-'));
});
test.after.each(async () => {
  await rm(root, { recursive: true, force: true });
});

test('newRecordId() sorts by start time', () => {
  const a = newRecordId(1_000_000);
  const b = newRecordId(2_000_000);
  assert.match(a, /^[0-9a-v]{26}$/);
  assert.ok(a < b);
});

test('writeRecord() then readRecord() and listRecords() round-trip, newest first, filtered', async () => {
  const old = sampleRecord({ start: Date.now() - 60_000, tags: ['old:1'] });
  const young = sampleRecord({ tags: ['young:1'], status: 'failed' });
  await writeRecord(root, old);
  await writeRecord(root, young);
  assert.equal(await readRecord(root, old.id), old);
  assert.equal(
    (await listRecords(root)).map((r) => r.id),
    [young.id, old.id],
  );
  assert.equal(
    (await listRecords(root, { status: ['failed'] })).map((r) => r.id),
    [young.id],
  );
  assert.equal(
    (await listRecords(root, { ref: 'old' })).map((r) => r.id),
    [old.id],
  );
  assert.equal(
    (await listRecords(root, { since: Date.now() - 10_000 })).map((r) => r.id),
    [young.id],
  );
  assert.is(await resolveRecordRef(root, '^0'), young.id);
  assert.is(await resolveRecordRef(root, '^1'), old.id);
  assert.is(await resolveRecordRef(root, old.id.slice(0, 20)), old.id);
  await rejects(() => resolveRecordRef(root, '^2'), 'NOT_FOUND');
  await removeRecord(root, old.id);
  await rejects(() => readRecord(root, old.id), 'NOT_FOUND');
});

test('an id that is not an id is refused before any path is built', async () => {
  await rejects(() => readRecord(root, '../../etc'), 'INVALID_ARGUMENT');
  await rejects(() => removeRecord(root, '..'), 'INVALID_ARGUMENT');
});

test('a running record whose owner is gone reads as incomplete, its running steps cancelled', async () => {
  const rec = sampleRecord({ status: 'running', owner: '999999999.1', end: undefined });
  rec.steps[3] = { ...rec.steps[3]!, status: 'running', end: undefined };
  await writeRecord(root, rec);
  const back = await readRecord(root, rec.id);
  assert.is(back.status, 'incomplete');
  assert.is(back.steps[3]!.status, 'cancelled');
  const live = sampleRecord({ status: 'running' });
  await writeRecord(root, live);
  assert.is((await readRecord(root, live.id)).status, 'running');
});

test('a step log keeps every byte (5 MiB), and a log cut short reads up to its last flush', async () => {
  const rec = sampleRecord();
  await writeRecord(root, rec);
  const log = await openStepLog(root, rec.id, 2);
  const data = randomBytes(5 * 1024 * 1024).toString('base64');
  for (let i = 0; i < data.length; i += 65536) log.write(data.slice(i, i + 65536));
  await log.close();
  assert.is(log.bytes, data.length);
  const back = await readStepLog(root, rec.id, 2);
  assert.is(createHash('sha256').update(back).digest('hex'), createHash('sha256').update(data).digest('hex'));
  // A killed writer: no gzip trailer, maybe half a block.
  const cut = await openStepLog(root, rec.id, 4);
  cut.write('first line\n');
  await new Promise((r) => setTimeout(r, 400));
  const size = (await stat(stepLogPath(root, rec.id, 4))).size;
  assert.ok(size > 0);
  await truncate(stepLogPath(root, rec.id, 4), size);
  assert.is((await readStepLog(root, rec.id, 4)).toString(), 'first line\n');
  await cut.close();
});

test('a second close of a step log waits for the first to finish: the log is whole when either resolves', async () => {
  const rec = sampleRecord();
  await writeRecord(root, rec);
  const log = await openStepLog(root, rec.id, 3);
  const data = randomBytes(2 * 1024 * 1024).toString('hex');
  log.write(data);
  void log.close(); // the step's end starts it; the build's finish closes again and must wait for it
  await log.close();
  assert.is((await readStepLog(root, rec.id, 3)).toString(), data);
});

test('recordLogStream() prefixes every line with its step', async () => {
  const rec = sampleRecord();
  await writeRecord(root, rec);
  const log = await openStepLog(root, rec.id, 2);
  log.write('hi\nthere');
  await log.close();
  let text = '';
  for await (const c of await recordLogStream(root, rec.id)) text += (c as Buffer).toString();
  assert.match(text, /#2 \[base 2\] RUN echo hi\n#2 hi\n#2 there\n#2 EXECUTED\n/);
  let one = '';
  for await (const c of await recordLogStream(root, rec.id, { step: 2 })) one += (c as Buffer).toString();
  assert.is(one, 'hi\nthere');
  await rejects(() => recordLogStream(root, rec.id, { step: 9 }), 'NOT_FOUND');
});

test('summarizeRecord() keeps what a list shows, and each step only as id, kind and status', () => {
  const rec = sampleRecord({ tags: ['app:1'] });
  assert.ok(rec.steps.length > 0 && rec.stages.length > 0);
  const sum = summarizeRecord(rec);
  assert.equal(sum.tags, ['app:1']);
  assert.is(sum.id, rec.id);
  assert.equal(
    sum.steps,
    rec.steps.map((s) => ({ id: s.id, kind: s.kind, status: s.status })),
  );
  assert.not.ok('stages' in sum);
  assert.not.ok('warnings' in sum);
  assert.ok(JSON.stringify(sum).length < JSON.stringify(rec).length);
});

test.run();
