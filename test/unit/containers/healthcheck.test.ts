import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  applyProbe,
  clipOutput,
  healthcheckActive,
  healthcheckOf,
  healthTiming,
  initialHealth,
  mergeHealthcheck,
  probeArgs,
} from '../../../src/containers/healthcheck.js';

const r = (exitCode: number, output = '') => ({ start: 's', end: 'e', exitCode, output });

test('the request overrides the image field by field; Docker defaults apply', () => {
  const image = { Test: ['CMD', 'check'], Interval: 5e9, Retries: 7 };
  const merged = mergeHealthcheck(image, healthcheckOf({ Test: [], Interval: 1e9 }));
  assert.equal(merged, { test: ['CMD', 'check'], intervalNs: 1e9, retries: 7 });
  assert.equal(healthTiming(merged!), { intervalMs: 1000, timeoutMs: 30_000, startPeriodMs: 0, retries: 7 });
  assert.equal(mergeHealthcheck(undefined, undefined), undefined);
  assert.equal(healthTiming({ test: ['CMD', 'x'] }), { intervalMs: 30_000, timeoutMs: 30_000, startPeriodMs: 0, retries: 3 });
});

test('--no-healthcheck disables the image check', () => {
  const merged = mergeHealthcheck({ Test: ['CMD-SHELL', 'true'] }, healthcheckOf({ Test: ['NONE'] }));
  assert.equal(merged?.test, ['NONE']);
  assert.not.ok(healthcheckActive(merged));
});

test('bad health configs are refused, naming the option', () => {
  assert.throws(() => healthcheckOf({ Test: ['SHELL', 'x'] }), /unknown type/);
  assert.throws(() => healthcheckOf({ Test: ['CMD'] }), /no command/);
  assert.throws(() => healthcheckOf({ Interval: 5 }), /--health-interval cannot be less than 1ms/);
  assert.throws(() => healthcheckOf({ Retries: -1 }), /--health-retries/);
});

test('probe argv: CMD as given, CMD-SHELL under /bin/sh -c', () => {
  assert.equal(probeArgs({ test: ['CMD', 'test', '-f', '/x'] }), ['test', '-f', '/x']);
  assert.equal(probeArgs({ test: ['CMD-SHELL', 'test -f /x'] }), ['/bin/sh', '-c', 'test -f /x']);
});

test('starting → unhealthy after `retries` failures, healthy on a success, streak reset', () => {
  let s = initialHealth();
  s = applyProbe(s, r(1), { retries: 2, inStartPeriod: false });
  assert.equal([s.status, s.failingStreak], ['starting', 1]);
  s = applyProbe(s, r(1), { retries: 2, inStartPeriod: false });
  assert.equal([s.status, s.failingStreak], ['unhealthy', 2]);
  s = applyProbe(s, r(0, 'ok'), { retries: 2, inStartPeriod: false });
  assert.equal([s.status, s.failingStreak], ['healthy', 0]);
  assert.equal(s.log.length, 3);
});

test('failures in the start period are logged, not counted; the log keeps five', () => {
  let s = initialHealth();
  for (let i = 0; i < 7; i++) s = applyProbe(s, r(1, String(i)), { retries: 1, inStartPeriod: true });
  assert.equal([s.status, s.failingStreak], ['starting', 0]);
  assert.equal(
    s.log.map((l) => l.output),
    ['2', '3', '4', '5', '6'],
  );
});

test('output is clipped to 4 KiB', () => {
  assert.equal(Buffer.byteLength(clipOutput('x'.repeat(10_000))), 4096);
  assert.equal(clipOutput('short'), 'short');
});

test.run();
