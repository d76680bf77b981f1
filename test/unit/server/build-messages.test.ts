import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ServerResponse } from 'node:http';
import { parseBuildQuery } from '../../../src/server/build-params.js';
import { createBuildStream, type JsonMessage } from '../../../src/server/build-stream.js';
import { startJsonStream } from '../../../src/server/json-stream.js';
import { Query } from '../../../src/server/http-util.js';
import { transferMessage } from '../../../src/server/transfer-progress.js';
import { readRegistryAuth, readRegistryConfig } from '../../../src/server/registry-auth.js';
import { KilnError } from '../../../src/errors.js';
import { throwsCode } from '../../helpers/assert.js';

const q = (s: string) => new Query(new URLSearchParams(s), 32 * 1024);

test('parseBuildQuery() maps the docker CLI query onto build options', () => {
  const r = parseBuildQuery(
    q(
      't=a:1&t=127.0.0.1:5000/b&dockerfile=sub/Dockerfile.x&buildargs={"A":"1","B":null}&labels={"l":"v"}&target=t&nocache=1&pull=true&q=1&networkmode=none&extrahosts=h:1.2.3.4,i:::1&platform=linux/amd64&rm=1&memory=0',
    ),
  );
  assert.equal(r.tags, ['a:1', '127.0.0.1:5000/b']);
  assert.is(r.dockerfile, 'sub/Dockerfile.x');
  assert.equal(r.options.buildArgs, { A: '1' });
  assert.equal(r.options.labels, { l: 'v' });
  assert.is(r.options.target, 't');
  assert.ok(r.options.noCache && r.options.pull && r.quiet);
  assert.is(r.options.networkMode, 'none');
  assert.equal(r.options.extraHosts, ['1.2.3.4 h', '::1 i'], 'as /etc/hosts lines, as a local build passes them');
  assert.equal(r.warnings, []);
});

test('parseBuildQuery() refuses what kiln cannot do, with a hint', () => {
  throwsCode(() => parseBuildQuery(q('version=2')), 'NOT_IMPLEMENTED', /BuildKit session/);
  throwsCode(() => parseBuildQuery(q('remote=https://example.com/x.git')), 'NOT_IMPLEMENTED');
  throwsCode(() => parseBuildQuery(q('networkmode=container:x')), 'INVALID_ARGUMENT');
  throwsCode(() => parseBuildQuery(q('dockerfile=../Dockerfile')), 'UNSAFE_PATH');
  throwsCode(() => parseBuildQuery(q('t=UPPER')), 'INVALID_REFERENCE');
  throwsCode(() => parseBuildQuery(q('buildargs=[1]')), 'INVALID_ARGUMENT');
  throwsCode(() => parseBuildQuery(q('buildargs={"A":1}')), 'INVALID_ARGUMENT');
  throwsCode(() => parseBuildQuery(q(`labels=${encodeURIComponent(JSON.stringify({ a: 'x'.repeat(40_000) }))}`)), 'PAYLOAD_TOO_LARGE');
  assert.match(parseBuildQuery(q('cpushares=512')).warnings.join(), /ignored by kiln: cpushares/);
});

test('the build stream speaks Docker: steps, output, aux ID, Successfully lines, errorDetail', () => {
  const out: JsonMessage[] = [];
  const s = createBuildStream((m) => out.push(m), { quiet: false });
  const step = { id: 2, stage: '', index: 2, total: 3, text: 'RUN make' };
  s.event({ type: 'build-start', steps: 3, stages: [''] });
  s.event({ type: 'step-start', step });
  s.event({ type: 'step-output', step, stream: 'stdout', data: 'compiling\n' });
  s.done({
    imageId: `sha256:${'1'.repeat(64)}`,
    manifestDigest: `sha256:${'2'.repeat(64)}`,
    tags: ['app:1'],
    stepsExecuted: 1,
    stepsCached: 0,
    stepsShared: 0,
  });
  s.fail(new KilnError('BUILD_STEP_FAILED', 'exit code: 3'));
  const streams = out.filter((m) => m.stream).map((m) => m.stream);
  assert.ok(streams.includes('Step 2/3 : RUN make\n'));
  assert.ok(streams.includes('compiling\n'));
  assert.ok(streams.includes('Successfully built 111111111111\n'));
  assert.ok(streams.includes('Successfully tagged app:1\n'));
  assert.ok(out.some((m) => (m.aux as { ID?: string })?.ID === `sha256:${'1'.repeat(64)}`));
  assert.equal(out[out.length - 1], { errorDetail: { message: 'exit code: 3' }, error: 'exit code: 3' });
});

test('a JSON stream drops progress, never results, while a slow client has too much buffered', () => {
  const written: string[] = [];
  const res = {
    writableLength: 0,
    destroyed: false,
    writableEnded: false,
    writeHead() {},
    flushHeaders() {},
    write: (s: string) => written.push(s),
    end() {},
  } as unknown as ServerResponse & { writableLength: number };
  const js = startJsonStream(res, 200, 100);
  js.write({ stream: 'a\n' });
  (res as { writableLength: number }).writableLength = 1000;
  js.write({ stream: 'b\n' });
  js.write({ stream: 'c\n' });
  js.write({ aux: { ID: 'x' } });
  (res as { writableLength: number }).writableLength = 0;
  js.write({ stream: 'd\n' });
  const msgs = written.map((l) => JSON.parse(l));
  assert.equal(
    msgs.map((m) => m.stream ?? 'aux'),
    ['a\n', '[kiln] 2 progress lines dropped: the client read too slowly\n', 'aux', 'd\n'],
  );
});

test('transfer events map to docker push/pull progress lines', () => {
  const d = `sha256:${'ab'.repeat(32)}`;
  assert.equal(transferMessage({ type: 'blob', digest: d, size: 10, kind: 'layer', status: 'done', current: 10 }, 'push'), {
    status: 'Pushed',
    id: 'abababababab',
    progressDetail: {},
  });
  assert.equal(transferMessage({ type: 'blob', digest: d, size: 10, kind: 'layer', status: 'downloading', current: 4 }, 'pull'), {
    status: 'Downloading',
    id: 'abababababab',
    progressDetail: { current: 4, total: 10 },
  });
  assert.is(transferMessage({ type: 'blob', digest: d, size: 10, kind: 'config', status: 'done', current: 10 }, 'push'), undefined);
});

test('registry auth headers decode base64url JSON and never echo a bad value', () => {
  const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const req = (h: Record<string, string>) => ({ headers: h }) as never;
  assert.equal(readRegistryAuth(req({ 'x-registry-auth': enc({ username: 'u', password: 'p', serveraddress: '127.0.0.1:5000' }) })), {
    username: 'u',
    password: 'p',
    serveraddress: '127.0.0.1:5000',
  });
  assert.is(readRegistryAuth(req({ 'x-registry-auth': 'e30=' })), undefined);
  assert.equal(
    readRegistryConfig(req({ 'x-registry-config': enc({ 'https://index.docker.io/v1/': { auth: Buffer.from('a:b').toString('base64') } }) }))[
      'index.docker.io'
    ],
    { auth: Buffer.from('a:b').toString('base64'), username: 'a', password: 'b' },
  );
  const err = throwsCode(() => readRegistryAuth(req({ 'x-registry-auth': Buffer.from('not json hunter2').toString('base64') })), 'INVALID_ARGUMENT');
  assert.not.match(err.message, /hunter2/);
});

test.run();
