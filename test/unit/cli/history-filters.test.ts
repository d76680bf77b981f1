import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseHistoryFilters } from '../../../src/cli/commands/history.js';
import { throwsCode } from '../../helpers/assert.js';

test('parseHistoryFilters() reads status, ref, since and until', () => {
  const now = 10_000_000;
  assert.equal(parseHistoryFilters(['status=failed', 'status=incomplete', 'ref=app', 'since=2h', 'until=2026-01-01T00:00:00Z'], now), {
    status: ['failed', 'incomplete'],
    ref: 'app',
    since: now - 2 * 3600_000,
    until: Date.parse('2026-01-01T00:00:00Z'),
  });
});

test('parseHistoryFilters() refuses unknown keys, statuses and times by name', () => {
  throwsCode(() => parseHistoryFilters(['colour=red']), 'INVALID_ARGUMENT', /colour/);
  throwsCode(() => parseHistoryFilters(['status=done']), 'INVALID_ARGUMENT', /status=done/);
  throwsCode(() => parseHistoryFilters(['since=yesterday']), 'INVALID_ARGUMENT', /since=yesterday/);
  throwsCode(() => parseHistoryFilters(['status']), 'INVALID_ARGUMENT', /KEY=VALUE/);
});

test.run();
