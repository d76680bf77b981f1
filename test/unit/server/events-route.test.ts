/** `GET /events`: dockerd's event filters and the since/until forms (src/server/routes/events.ts). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { eventMatches, parseEventTime } from '../../../src/server/routes/events.js';
import type { EventMessage } from '../../../src/server/backend.js';
import { parseFilters } from '../../../src/server/filters.js';
import { throwsCode } from '../../helpers/assert.js';

const ev = (Type: string, Action: string, ID: string, Attributes: Record<string, string>): EventMessage => ({
  Type,
  Action,
  Actor: { ID, Attributes },
  scope: 'local',
  time: 1,
  timeNano: 1e9,
});
const start = ev('container', 'start', 'abc123', { name: 'web', image: 'busybox:latest', app: 'x' });
const exec = ev('container', 'exec_create: sh -c true', 'abc123', { name: 'web', image: 'busybox:latest' });
const net = ev('network', 'create', 'n1', { name: 'front', type: 'bridge' });
const f = (o: Record<string, string[]>) => parseFilters(JSON.stringify(o));

test('eventMatches(): event, type and scope exactly; container, network by id or name prefix', () => {
  assert.ok(eventMatches(f({}), start));
  assert.ok(eventMatches(f({ event: ['start', 'die'] }), start));
  assert.not.ok(eventMatches(f({ event: ['sta'] }), start));
  assert.ok(eventMatches(f({ type: ['container'] }), start));
  assert.not.ok(eventMatches(f({ type: ['container'] }), net));
  assert.ok(eventMatches(f({ container: ['abc'] }), start));
  assert.ok(eventMatches(f({ container: ['we'] }), start));
  assert.not.ok(eventMatches(f({ container: ['other'] }), start));
  // As dockerd, a container filter applies to every event: a network event matches only by its own id or name.
  assert.not.ok(eventMatches(f({ container: ['web'] }), net));
  assert.ok(eventMatches(f({ network: ['front'] }), net));
  assert.ok(eventMatches(f({ scope: ['local'] }), net));
  assert.not.ok(eventMatches(f({ scope: ['swarm'] }), net));
});

test('eventMatches(): exec_create bare matches its suffixed action; image by name with or without tag; labels', () => {
  assert.ok(eventMatches(f({ event: ['exec_create'] }), exec));
  assert.ok(eventMatches(f({ image: ['busybox'] }), start));
  assert.ok(eventMatches(f({ image: ['busybox:latest'] }), start));
  assert.not.ok(eventMatches(f({ image: ['alpine'] }), start));
  assert.ok(eventMatches(f({ label: ['app=x'] }), start));
  assert.ok(eventMatches(f({ label: ['app'] }), start));
  assert.not.ok(eventMatches(f({ label: ['app=y'] }), start));
});

test('parseEventTime() takes Unix seconds with a fraction as nanoseconds and refuses other forms', () => {
  assert.is(parseEventTime('since', undefined), undefined);
  assert.is(parseEventTime('since', ''), undefined);
  assert.is(parseEventTime('since', '1700000000'), 1700000000e9);
  assert.is(parseEventTime('since', '1700000000.5'), 1700000000e9 + 5e8);
  assert.is(parseEventTime('until', '1700000000.000000001'), 1700000000e9 + 1);
  throwsCode(() => parseEventTime('since', '10m'), 'INVALID_ARGUMENT', /since="10m": Unix seconds expected/);
  throwsCode(() => parseEventTime('until', '2026-01-01'), 'INVALID_ARGUMENT');
});

test.run();
