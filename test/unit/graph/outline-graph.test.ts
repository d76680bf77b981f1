/** `kiln outline --graph` as a user runs it: the op graph as JSON, nothing built, no root created. */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Graph } from '../../../src/graph/types.js';
import { kiln } from '../../helpers/kiln-cli.js';

let dir = '';
test.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'kiln-outline-graph-'));
  writeFileSync(
    join(dir, 'Dockerfile'),
    'FROM busybox AS build\nARG V=1\nRUN echo $V > /v\nFROM scratch\nCOPY --from=build /v /v\nCOPY app.txt /app/\nLABEL x=y\n',
  );
});
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('kiln outline --graph prints the op graph as JSON without creating a root', async () => {
  const root = join(dir, 'no-root');
  const r = await kiln(['outline', '--graph', '--platform', 'linux/amd64', '--build-arg', 'V=2', dir], { root });
  assert.is(r.code, 0, r.stderr);
  const g = JSON.parse(r.stdout) as Graph;
  assert.is(g.platform, 'linux/amd64');
  assert.is(g.target, 1);
  assert.equal(
    g.ops.map((o) => o.kind),
    ['source', 'meta', 'exec', 'source', 'file', 'source', 'file', 'meta'],
  );
  const run = g.ops.find((o) => o.kind === 'exec')!;
  assert.equal(run.def, {
    args: ['/bin/sh', '-c', 'echo $V > /v'],
    env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'V=2'],
    user: '',
    cwd: '/',
    network: 'default',
    security: 'sandbox',
    mounts: [],
    extraHosts: [],
  });
  assert.equal(run.meta, { text: 'RUN echo $V > /v', loc: { file: 'Dockerfile', line: 3 }, stage: 'build' });
  // The base image was not in a store: the graph says its config was not applied.
  assert.match(g.ops[0]!.meta.note ?? '', /image config not read/);
  const copyFrom = g.ops.find((o) => o.kind === 'file' && o.inputs.includes(run.id))!;
  assert.equal(copyFrom.def, {
    action: 'copy',
    sources: ['/v'],
    heredocs: [],
    dest: '/v',
    workdir: '/',
    chown: '',
    chmod: '',
    link: false,
    parents: false,
    exclude: [],
    from: { stage: true },
  });
  assert.not.ok(existsSync(root), 'outline --graph created a root');
});

test('kiln outline --graph refuses --format text rather than ignore it', async () => {
  const r = await kiln(['outline', '--graph', '--format', 'text', dir]);
  assert.is.not(r.code, 0);
  assert.match(r.stderr, /--graph prints JSON/);
});

test('kiln outline --graph --network --add-host shape RUN ops as a build would, addresses left out', async () => {
  const r = await kiln(['outline', '--graph', '--network', 'none', '--add-host', 'db:10.1.2.3', dir], { root: join(dir, 'no-root') });
  assert.is(r.code, 0, r.stderr);
  const run = (JSON.parse(r.stdout) as Graph).ops.find((o) => o.kind === 'exec')!;
  assert.is((run.def as { network: string }).network, 'none');
  assert.equal((run.def as { extraHosts: string[] }).extraHosts, ['db']);
  assert.not.match(r.stdout, /10\.1\.2\.3/);
});

test('kiln outline refuses --add-host without --graph rather than ignore it', async () => {
  const r = await kiln(['outline', '--add-host', 'db:10.1.2.3', dir]);
  assert.is.not(r.code, 0);
  assert.match(r.stderr, /--add-host only shapes the op graph/);
});

test.run();
