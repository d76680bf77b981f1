import { test } from 'uvu';
import * as assert from 'uvu/assert';
import http from 'node:http';
import { rmSync } from 'node:fs';
import { Writable } from 'node:stream';
import {
  checkContainerListFilters,
  containerPruneFilter,
  matchContainer,
  matchLabels,
  parseFilters,
  parseTimestamp,
  type ContainerFacts,
} from '../../../src/server/filters.js';
import { createKilnServer } from '../../../src/server/server.js';
import { createLogger } from '../../../src/server/log.js';
import type { ContainerBackend, ContainerSummary } from '../../../src/server/backend.js';
import { KilnError } from '../../../src/errors.js';
import { fakeBackend } from './fake-backend.js';

const throwsCode = (fn: () => unknown, message: string) => {
  try {
    fn();
  } catch (err) {
    assert.instance(err, KilnError);
    assert.is((err as Error).message, message);
    return;
  }
  assert.unreachable('no error');
};

test('parseFilters reads the map of arrays and the legacy map of sets; empty is none', () => {
  assert.equal(
    [...parseFilters('{"label":["a=b","c"],"status":["exited"]}')],
    [
      ['label', ['a=b', 'c']],
      ['status', ['exited']],
    ],
  );
  assert.equal([...parseFilters('{"label":{"com.docker.compose.project=x":true}}')], [['label', ['com.docker.compose.project=x']]]);
  assert.is(parseFilters(undefined).size, 0);
  assert.is(parseFilters('').size, 0);
  assert.is(parseFilters('{}').size, 0);
  throwsCode(() => parseFilters('{label'), 'invalid filters: "{label" is not JSON');
  throwsCode(() => parseFilters('{"label":"a"}'), 'invalid filters: the values of "label" must be an array of strings');
});

test('checkContainerListFilters: unknown key as dockerd, bad status and exit code are 400s, status lists stopped ones', () => {
  throwsCode(() => checkContainerListFilters(parseFilters('{"colour":["red"]}')), "invalid filter 'colour'");
  throwsCode(() => checkContainerListFilters(parseFilters('{"status":["sleeping"]}')), "invalid filter 'status=sleeping'");
  throwsCode(() => checkContainerListFilters(parseFilters('{"exited":["x"]}')), "invalid filter 'exited=x'");
  assert.is(checkContainerListFilters(parseFilters('{"status":["exited"]}')).impliesAll, true);
  assert.is(checkContainerListFilters(parseFilters('{"label":["a"]}')).impliesAll, false);
  throwsCode(() => checkContainerListFilters(parseFilters('{"health":["sick"]}')), "invalid filter 'health=sick': starting, healthy, unhealthy, none expected");
  throwsCode(() => checkContainerListFilters(parseFilters('{"is-task":["maybe"]}')), "invalid filter 'is-task=maybe': true or false expected");
  throwsCode(() => checkContainerListFilters(parseFilters('{"isolation":["vm"]}')), "invalid filter 'isolation=vm'");
  throwsCode(() => checkContainerListFilters(parseFilters('{"publish":["80/icmp"]}')), 'invalid filter value "80/icmp": a port, port/proto or range expected');
  throwsCode(() => checkContainerListFilters(parseFilters('{"expose":["90-80"]}')), 'invalid filter value "90-80": a port, port/proto or range expected');
  for (const ok of ['{"network":["n1"]}', '{"volume":["/data"]}', '{"health":["none"]}', '{"publish":["8000-8080/udp"]}', '{"before":["x"]}'])
    checkContainerListFilters(parseFilters(ok));
});

test('network, volume, health, publish, expose, is-task, isolation and the before/since window', () => {
  const web: ContainerFacts = {
    id: 'aa'.padEnd(64, '0'),
    name: 'web',
    status: 'running',
    imageId: 'sha256:i',
    created: 2000,
    networks: ['front', 'f'.repeat(64)],
    volumes: ['data', '/data'],
    health: 'healthy',
    published: [{ port: 80, proto: 'tcp' }],
    exposed: [
      { port: 80, proto: 'tcp' },
      { port: 53, proto: 'udp' },
    ],
  };
  const m = (json: string, w?: { before?: number; since?: number }) => matchContainer(parseFilters(json), web, undefined, w);
  assert.ok(m('{"network":["front"]}') && m(`{"network":["${'f'.repeat(64)}"]}`) && !m('{"network":["back"]}'));
  assert.ok(m('{"volume":["data"]}') && m('{"volume":["/data"]}') && !m('{"volume":["/other"]}'));
  assert.ok(m('{"health":["healthy","unhealthy"]}') && !m('{"health":["none"]}'));
  assert.ok(matchContainer(parseFilters('{"health":["none"]}'), { ...web, health: undefined }));
  assert.ok(m('{"publish":["80"]}') && m('{"publish":["70-90/tcp"]}') && !m('{"publish":["53/udp"]}'));
  assert.ok(m('{"expose":["53/udp"]}') && !m('{"expose":["53"]}'));
  assert.ok(m('{"is-task":["false"]}') && !m('{"is-task":["true"]}'));
  assert.ok(m('{"isolation":["default"]}') && !m('{"isolation":["hyperv"]}'));
  assert.ok(m('{}', { before: 3000 }) && !m('{}', { before: 2000 }) && m('{}', { since: 1000 }) && !m('{}', { since: 2000 }));
});

const a: ContainerFacts = { id: 'abc123'.padEnd(64, '0'), name: 'web_1', status: 'running', labels: { app: 'x', tier: 'web' }, imageId: 'sha256:i1' };
const b: ContainerFacts = { id: 'def456'.padEnd(64, '0'), name: 'other', status: 'exited', exitCode: 3, imageId: 'sha256:i2' };

test('labels: every value must hold; key alone is presence', () => {
  const f = (j: unknown) => parseFilters(JSON.stringify(j));
  assert.ok(matchLabels(f({ label: ['app=x', 'tier'] }), 'label', a.labels));
  assert.not.ok(matchLabels(f({ label: ['app=x', 'tier=db'] }), 'label', a.labels));
  assert.not.ok(matchLabels(f({ label: ['app'] }), 'label', undefined));
  assert.ok(matchLabels(f({}), 'label', undefined));
  assert.ok(matchLabels(f({ label: ['empty='] }), 'label', { empty: '' }));
});

test('matchContainer: name and id as regular expressions, status, exited, ancestor', () => {
  const f = (j: unknown) => parseFilters(JSON.stringify(j));
  const pick = (j: unknown, anc?: Set<string>) => [a, b].filter((c) => matchContainer(f(j), c, anc)).map((c) => c.name);
  assert.equal(pick({ label: ['app=x'] }), ['web_1']);
  assert.equal(pick({ name: ['web'] }), ['web_1']);
  assert.equal(pick({ name: ['^/other$'] }), ['other']);
  assert.equal(pick({ name: ['^other$'] }), ['other']);
  assert.equal(pick({ name: ['web', 'oth'] }), ['web_1', 'other']);
  assert.equal(pick({ name: ['('] }), []);
  assert.equal(pick({ id: ['def4'] }), ['other']);
  assert.equal(pick({ status: ['exited'] }), ['other']);
  assert.equal(pick({ status: ['running', 'exited'] }), ['web_1', 'other']);
  assert.equal(pick({ exited: ['3'] }), ['other']);
  assert.equal(pick({ exited: ['0'] }), []);
  assert.equal(pick({ ancestor: ['busybox'] }, new Set(['sha256:i2'])), ['other']);
  assert.equal(pick({ ancestor: ['nosuch'] }, new Set()), []);
  assert.equal(pick({ label: ['app=x'], status: ['exited'] }), []);
});

test('container prune filters: label, label!, until; others refused as dockerd', () => {
  const f = (j: unknown) => parseFilters(JSON.stringify(j));
  const now = Date.parse('2026-01-02T00:00:00Z');
  const old = { created: '2026-01-01T00:00:00Z', labels: { app: 'x' } };
  const young = { created: '2026-01-01T23:30:00Z', labels: { app: 'y' } };
  const pick = (j: unknown) => [old, young].filter(containerPruneFilter(f(j), now)).map((c) => c.labels.app);
  assert.equal(pick({}), ['x', 'y']);
  assert.equal(pick({ label: ['app=x'] }), ['x']);
  assert.equal(pick({ 'label!': ['app=x'] }), ['y']);
  assert.equal(pick({ 'label!': ['app'] }), []);
  assert.equal(pick({ until: ['1h'] }), ['x']);
  assert.equal(pick({ until: ['2026-01-01T12:00:00Z'] }), ['x']);
  assert.equal(pick({ until: [String(Date.parse('2026-01-01T12:00:00Z') / 1000)] }), ['x']);
  throwsCode(() => containerPruneFilter(f({ status: ['exited'] })), "invalid filter 'status'");
  throwsCode(() => containerPruneFilter(f({ until: ['soon'] })), "invalid filter 'until=soon'");
  throwsCode(() => containerPruneFilter(f({ until: ['1h', '2h'] })), 'more than one until filter specified');
  assert.is(parseTimestamp('1h30m', 10_000_000), 10_000_000 - 5_400_000);
});

function fakeContainers(): ContainerBackend & { listed: Array<{ all?: boolean; filters?: Map<string, string[]> }> } {
  const listed: Array<{ all?: boolean; filters?: Map<string, string[]> }> = [];
  const no = async (): Promise<never> => {
    throw new KilnError('NOT_IMPLEMENTED', 'fake');
  };
  return {
    listed,
    create: no,
    start: no,
    attach: no,
    wait: no,
    stop: no,
    remove: no,
    inspect: no,
    async prune() {
      return { ContainersDeleted: ['c1'], SpaceReclaimed: 0 };
    },
    async list(opts) {
      listed.push(opts);
      return [] as ContainerSummary[];
    },
  };
}

function get(port: number, path: string, method = 'GET'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .request({ host: '127.0.0.1', port, path, method }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject)
      .end();
  });
}

test('GET /containers/json: filters reach the backend, an unknown key is a 400 with dockerd message', async () => {
  const fake = fakeBackend();
  const containers = fakeContainers();
  const server = createKilnServer({
    backend: { ...fake.backend, containers },
    listen: [{ kind: 'tcp', host: '127.0.0.1', port: 0 }],
    concurrency: 1,
    log: createLogger({ out: new Writable({ write: (_c, _e, cb) => cb() }) }),
  });
  const [addr] = await server.listen();
  const port = Number(addr.split(':').pop());
  try {
    const q = encodeURIComponent('{"label":{"app=x":true},"status":["exited"]}');
    const ok = await get(port, `/v1.45/containers/json?filters=${q}`);
    assert.is(ok.status, 200);
    assert.is(containers.listed[0]?.all, true);
    assert.equal(
      [...(containers.listed[0]?.filters ?? [])],
      [
        ['label', ['app=x']],
        ['status', ['exited']],
      ],
    );
    const bad = await get(port, `/v1.45/containers/json?filters=${encodeURIComponent('{"colour":["red"]}')}`);
    assert.is(bad.status, 400);
    assert.is(JSON.parse(bad.body).message, "invalid filter 'colour'");
    assert.is(containers.listed.length, 1);
    // prune is its own route, not a container called "prune" (which would be a 405 for POST)
    const pruned = await get(port, '/v1.45/containers/prune', 'POST');
    assert.is(pruned.status, 200);
    assert.equal(JSON.parse(pruned.body), { ContainersDeleted: ['c1'], SpaceReclaimed: 0 });
    const badPrune = await get(port, `/v1.45/containers/prune?filters=${encodeURIComponent('{"status":["exited"]}')}`, 'POST');
    assert.is(badPrune.status, 400);
    assert.is(JSON.parse(badPrune.body).message, "invalid filter 'status'");
  } finally {
    await server.close(1000);
    rmSync(fake.tmp, { recursive: true, force: true });
  }
});

test.run();
