import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { healthJson, statusText } from '../../../src/containers/container-status.js';
import type { ContainerRecord } from '../../../src/containers/containers.js';

const now = Date.parse('2026-01-01T00:01:00Z');
const rec = (patch: Partial<ContainerRecord>) => ({ status: 'running', startedAt: '2026-01-01T00:00:57Z', ...patch }) as ContainerRecord;

test('docker ps STATUS: Up with the health, Restarting with the last exit', () => {
  assert.is(statusText(rec({}), now), 'Up 3 seconds');
  const hc = { test: ['CMD', 'true'] };
  assert.is(statusText(rec({ healthcheck: hc }), now), 'Up 3 seconds (health: starting)');
  assert.is(statusText(rec({ healthcheck: hc, health: { status: 'healthy', failingStreak: 0, log: [] } }), now), 'Up 3 seconds (healthy)');
  assert.is(statusText(rec({ healthcheck: hc, health: { status: 'unhealthy', failingStreak: 3, log: [] } }), now), 'Up 3 seconds (unhealthy)');
  assert.is(statusText(rec({ healthcheck: { test: ['NONE'] } }), now), 'Up 3 seconds');
  assert.is(statusText(rec({ status: 'restarting', exitCode: 1, finishedAt: '2026-01-01T00:00:58Z' }), now), 'Restarting (1) 2 seconds ago');
  assert.is(statusText(rec({ status: 'exited', exitCode: 2, finishedAt: '2026-01-01T00:00:58Z' }), now), 'Exited (2) 2 seconds ago');
  assert.is(statusText(rec({ status: 'created', startedAt: undefined }), now), 'Created');
});

test('State.Health in dockerd shape', () => {
  assert.equal(healthJson({ status: 'healthy', failingStreak: 0, log: [{ start: 'a', end: 'b', exitCode: 0, output: 'ok' }] }), {
    Status: 'healthy',
    FailingStreak: 0,
    Log: [{ Start: 'a', End: 'b', ExitCode: 0, Output: 'ok' }],
  });
});

test.run();
