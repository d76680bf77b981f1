/**
 * The container file-system routes over a fake backend: the `X-Docker-Container-Path-Stat` header of HEAD and GET
 * archive, PUT's options and body, commit's query parameters (`pause` defaulting to true, repeated `changes`, the
 * reference), diff's JSON, and the 400s for missing parameters.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { Writable } from 'node:stream';
import { createKilnServer, type KilnServer } from '../../../src/server/server.js';
import { createLogger } from '../../../src/server/log.js';
import type { ContainerBackend, ServerBackend } from '../../../src/server/backend.js';
import type { ContainerPathStat } from '../../../src/containers/container-fs.js';
import { KilnError } from '../../../src/errors.js';

const STAT: ContainerPathStat = { name: 'a.txt', size: 3, mode: 0o644, mtime: '2024-01-01T00:00:00.000Z', linkTarget: '' };

interface Calls {
  extract?: { id: string; path: string; body: string; noOverwriteDirNonDir?: boolean; copyUIDGID?: boolean };
  commit?: { id: string; opts: unknown };
}

function fsBackend(calls: Calls): Partial<ContainerBackend> {
  const known = (id: string) => {
    if (id !== 'c1') throw new KilnError('CONTAINER_NOT_FOUND', `no such container: ${id}`);
  };
  return {
    async changes(id) {
      known(id);
      return [{ Path: '/x', Kind: 1 }];
    },
    async statPath(id, path) {
      known(id);
      if (path === '/missing') throw new KilnError('NOT_FOUND', `Could not find the file ${path} in container c1`);
      return STAT;
    },
    async archive(id, _path, open) {
      known(id);
      const out = open(STAT);
      await new Promise<void>((r) => out.end('TAR', () => r()));
    },
    async extract(id, path, input, opts) {
      known(id);
      let body = '';
      for await (const c of input) body += c;
      calls.extract = { id, path, body, noOverwriteDirNonDir: opts.noOverwriteDirNonDir, copyUIDGID: opts.copyUIDGID };
    },
    async commit(id, opts) {
      known(id);
      calls.commit = { id, opts: { ...opts, signal: undefined } };
      return { Id: `sha256:${'b'.repeat(64)}` };
    },
  };
}

async function start(calls: Calls) {
  const backend = {
    tmpDir: '/tmp',
    build: async () => ({}) as never,
    images: {} as never,
    containers: fsBackend(calls) as ContainerBackend,
  } as ServerBackend;
  const server: KilnServer = createKilnServer({
    backend,
    listen: [{ kind: 'tcp', host: '127.0.0.1', port: 0 }],
    log: createLogger({ out: new Writable({ write: (_c, _e, cb) => cb() }) }),
  });
  const [addr] = await server.listen();
  return { server, port: Number(addr!.split(':').pop()) };
}

function call(port: number, method: string, path: string, body?: string): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const decode = (h: IncomingHttpHeaders) => JSON.parse(Buffer.from(String(h['x-docker-container-path-stat']), 'base64').toString('utf8')) as unknown;

test('HEAD and GET /containers/{id}/archive send the base64 JSON stat header; GET the tar; 404 and 400 as dockerd', async () => {
  const calls: Calls = {};
  const s = await start(calls);
  try {
    const head = await call(s.port, 'HEAD', '/v1.45/containers/c1/archive?path=/a.txt');
    assert.is(head.status, 200);
    assert.equal(decode(head.headers), STAT);
    assert.is(head.body, '');
    const get = await call(s.port, 'GET', '/containers/c1/archive?path=/a.txt');
    assert.is(get.status, 200);
    assert.is(get.headers['content-type'], 'application/x-tar');
    assert.equal(decode(get.headers), STAT);
    assert.is(get.body, 'TAR');
    assert.is((await call(s.port, 'HEAD', '/containers/c1/archive?path=/missing')).status, 404);
    assert.is((await call(s.port, 'GET', '/containers/nope/archive?path=/a')).status, 404);
    assert.is((await call(s.port, 'GET', '/containers/c1/archive')).status, 400);
  } finally {
    await s.server.close(100);
  }
});

test('PUT /containers/{id}/archive passes the body and noOverwriteDirNonDir/copyUIDGID', async () => {
  const calls: Calls = {};
  const s = await start(calls);
  try {
    const r = await call(s.port, 'PUT', '/containers/c1/archive?path=/dst&noOverwriteDirNonDir=true&copyUIDGID=1', 'tarbytes');
    assert.is(r.status, 200);
    assert.equal(calls.extract, { id: 'c1', path: '/dst', body: 'tarbytes', noOverwriteDirNonDir: true, copyUIDGID: true });
  } finally {
    await s.server.close(100);
  }
});

test('POST /commit: pause defaults to true, changes repeat, the reference gets latest; container is required', async () => {
  const calls: Calls = {};
  const s = await start(calls);
  try {
    const r = await call(s.port, 'POST', '/commit?container=c1&repo=app&comment=hi&changes=CMD%20%5B%22sh%22%5D&changes=ENV%20A%3D1');
    assert.is(r.status, 201);
    assert.equal(JSON.parse(r.body), { Id: `sha256:${'b'.repeat(64)}` });
    assert.equal(calls.commit, {
      id: 'c1',
      opts: { ref: 'docker.io/library/app:latest', changes: ['CMD ["sh"]', 'ENV A=1'], comment: 'hi', author: undefined, pause: true, signal: undefined },
    });
    await call(s.port, 'POST', '/commit?container=c1&repo=app&tag=v2&pause=0');
    assert.equal((calls.commit!.opts as { ref: string; pause: boolean }).pause, false);
    assert.equal((calls.commit!.opts as { ref: string }).ref, 'docker.io/library/app:v2');
    assert.is((await call(s.port, 'POST', '/commit?repo=app')).status, 400);
    assert.is((await call(s.port, 'POST', '/commit?container=c1&tag=v1')).status, 400);
    assert.is((await call(s.port, 'POST', '/commit?container=c1&repo=Bad%20Name')).status, 400);
  } finally {
    await s.server.close(100);
  }
});

test('GET /containers/{id}/changes answers the backend list as JSON', async () => {
  const s = await start({});
  try {
    const r = await call(s.port, 'GET', '/containers/c1/changes');
    assert.is(r.status, 200);
    assert.equal(JSON.parse(r.body), [{ Path: '/x', Kind: 1 }]);
  } finally {
    await s.server.close(100);
  }
});

test.run();
