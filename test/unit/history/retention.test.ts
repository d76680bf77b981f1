import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyRetention, recordsToRemove, retentionPolicy } from '../../../src/history/retention.js';
import { listRecords, writeRecord } from '../../../src/history/store.js';
import { DEFAULT_RETENTION } from '../../../src/history/types.js';
import { redactBuildArgs, scrubSecrets } from '../../../src/history/redact.js';
import { throwsCode } from '../../helpers/assert.js';
import { sampleRecord } from './fixtures.js';

const now = Date.now();
const recs = [0, 1, 2, 3].map((i) => sampleRecord({ start: now - (i + 1) * 3600_000, end: now - (i + 1) * 3600_000 + 1, sizeBytes: 100 }));

test('recordsToRemove() removes the oldest beyond the count, age and size limits, never a running one', () => {
  const ids = (xs: typeof recs) => xs.map((r) => r.id);
  assert.equal(ids(recordsToRemove(recs, { ...DEFAULT_RETENTION, maxRecords: 2 }, now)), [recs[3]!.id, recs[2]!.id]);
  assert.equal(ids(recordsToRemove(recs, { ...DEFAULT_RETENTION, maxAgeMs: 2.5 * 3600_000 }, now)), [recs[3]!.id, recs[2]!.id]);
  assert.equal(ids(recordsToRemove(recs, { ...DEFAULT_RETENTION, maxSizeBytes: 350 }, now)), [recs[3]!.id]);
  const running = [sampleRecord({ status: 'running', start: now - 99 * 3600_000 }), ...recs];
  assert.equal(ids(recordsToRemove(running, { ...DEFAULT_RETENTION, maxAgeMs: 1 }, now)).length, 4);
});

test('applyRetention() deletes the oldest records on disk', async () => {
  const root = await mkdtemp(join(tmpdir(), 'kiln-history-'));
  try {
    for (const r of recs) await writeRecord(root, r);
    const removed = await applyRetention(root, { ...DEFAULT_RETENTION, maxRecords: 3 });
    assert.equal(removed, [recs[3]!.id]);
    assert.equal(
      (await listRecords(root)).map((r) => r.id),
      recs.slice(0, 3).map((r) => r.id),
    );
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('applyRetention() after a build: at the count limit only the oldest goes; the size limit waits for the next full pass', async () => {
  const root = await mkdtemp(join(tmpdir(), 'kiln-history-'));
  try {
    for (const r of recs.slice(1)) await writeRecord(root, r);
    const policy = { ...DEFAULT_RETENTION, maxRecords: 3, maxSizeBytes: 250 };
    // A full pass (as kiln prune runs) applies every limit: 3 records of 100 bytes exceed 250.
    assert.equal(await applyRetention(root, policy), [recs[3]!.id]);
    await writeRecord(root, recs[0]!);
    // Right after it, the quick pass reads only the ids: the count holds, so the size limit is not looked at.
    assert.equal(await applyRetention(root, policy, { quickWithinMs: 60_000 }), []);
    await writeRecord(root, sampleRecord({ start: now - 1000, end: now - 999, sizeBytes: 1 }));
    // One over the count: the oldest record alone is read and removed.
    assert.equal(await applyRetention(root, policy, { quickWithinMs: 60_000 }), [recs[2]!.id]);
    // Once the interval has passed, the quick pass is a full one again.
    assert.equal(await applyRetention(root, { ...policy, maxSizeBytes: 150 }, { quickWithinMs: 0 }), [recs[1]!.id]);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('retentionPolicy() reads env and flags, refusing bad values by name', () => {
  assert.equal(retentionPolicy({}), DEFAULT_RETENTION);
  assert.equal(retentionPolicy({ KILN_HISTORY_MAX_RECORDS: '5', KILN_HISTORY_MAX_AGE: '2d' }, { maxSize: '10m' }), {
    maxRecords: 5,
    maxAgeMs: 2 * 86400_000,
    maxSizeBytes: 10 * 1024 * 1024,
  });
  throwsCode(() => retentionPolicy({}, { maxAge: '3 weeks' }), 'INVALID_ARGUMENT', /--history-max-age/);
  throwsCode(() => retentionPolicy({ KILN_HISTORY_MAX_RECORDS: '-1' }), 'INVALID_ARGUMENT', /KILN_HISTORY_MAX_RECORDS/);
});

test('redactBuildArgs() hides the values of args named like secrets', () => {
  assert.equal(redactBuildArgs({ VERSION: '1', API_TOKEN: 't0p', db_password: 'x', SSH_KEY: 'k', GITHUB_AUTH: 'a' }), {
    VERSION: '1',
    API_TOKEN: '[REDACTED]',
    db_password: '[REDACTED]',
    SSH_KEY: '[REDACTED]',
    GITHUB_AUTH: '[REDACTED]',
  });
  assert.is(scrubSecrets('the value s3cr3t-v4lue here', ['s3cr3t-v4lue']), 'the value [REDACTED] here');
});

test.run();
