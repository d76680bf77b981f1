import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { applyMetadata, baseConfigState, exposedPorts, resolveWorkdir, DEFAULT_PATH } from '../../../src/graph/image-config.js';
import type { ImageConfig } from '../../../src/image/types.js';
import type { StageInstruction } from '../../../src/parser/types.js';

const loc = { file: 'Dockerfile', line: 1, endLine: 1 };
const base: ImageConfig = {
  architecture: 'amd64',
  os: 'linux',
  rootfs: { type: 'layers', diff_ids: ['sha256:l1'] },
  config: { Env: ['PATH=/bin', 'A=1'], Cmd: ['sh'], OnBuild: ['RUN echo trigger'] },
  history: [{ created_by: 'base' }],
};
const ins = (x: object) => ({ loc, original: '', ...x }) as StageInstruction;

test('metadata changes the stage config in place and never the base image config it was copied from', () => {
  const withMeta: ImageConfig = { ...base, config: { ...base.config, Labels: { a: '1' }, ExposedPorts: { '80/tcp': {} }, Volumes: { '/v': {} } } };
  const before = structuredClone(withMeta);
  const s = baseConfigState(withMeta, { os: 'linux', architecture: 'amd64' });
  const env = s.image.config!.Env;
  for (let i = 0; i < 500; i++) {
    applyMetadata(s, ins({ kind: 'ENV', vars: [{ key: `E${i % 250}`, value: `v${i}` }] }), undefined);
    applyMetadata(s, ins({ kind: 'LABEL', labels: [{ key: `l${i}`, value: `${i}` }] }), undefined);
  }
  applyMetadata(s, ins({ kind: 'EXPOSE', ports: ['53/udp'] }), undefined);
  applyMetadata(s, ins({ kind: 'VOLUME', volumes: ['/w'] }), undefined);
  applyMetadata(s, ins({ kind: 'ONBUILD', expression: 'RUN x' }), undefined);
  assert.equal(withMeta, before);
  assert.is(s.image.config!.Env, env, 'the env list is the stage own, changed in place');
  assert.is(s.image.config!.Env!.length, 2 + 250);
  assert.is(s.image.config!.Env!.at(-1), 'E249=v499', 'a later ENV of a name replaces the first entry');
  assert.is(Object.keys(s.image.config!.Labels!).length, 501);
  assert.equal(Object.keys(s.image.config!.ExposedPorts!), ['80/tcp', '53/udp']);
  assert.equal(Object.keys(s.image.config!.Volumes!), ['/v', '/w']);
  assert.equal(s.image.config!.OnBuild, ['RUN x']);
});

test('ENTRYPOINT resets a CMD inherited from the base image', () => {
  const s = baseConfigState(base, { os: 'linux', architecture: 'amd64' });
  applyMetadata(s, ins({ kind: 'ENTRYPOINT', command: { form: 'exec', args: ['/app'] } }), undefined);
  assert.equal(s.image.config?.Entrypoint, ['/app']);
  assert.is(s.image.config?.Cmd, null);
});

test('ENTRYPOINT keeps a CMD set earlier in the same stage', () => {
  const s = baseConfigState(base, { os: 'linux', architecture: 'amd64' });
  applyMetadata(s, ins({ kind: 'CMD', command: { form: 'shell', script: 'run it' } }), undefined);
  applyMetadata(s, ins({ kind: 'ENTRYPOINT', command: { form: 'exec', args: ['/app'] } }), undefined);
  assert.equal(s.image.config?.Cmd, ['/bin/sh', '-c', 'run it']);
});

test('shell-form CMD goes through the stage SHELL', () => {
  const s = baseConfigState(undefined, { os: 'linux', architecture: 'amd64' });
  applyMetadata(s, ins({ kind: 'SHELL', shell: ['/bin/bash', '-ec'] }), undefined);
  applyMetadata(s, ins({ kind: 'CMD', command: { form: 'shell', script: 'echo hi' } }), undefined);
  assert.equal(s.image.config?.Cmd, ['/bin/bash', '-ec', 'echo hi']);
});

test('ENV replaces an inherited variable in place and records an empty-layer history entry', () => {
  const s = baseConfigState(base, { os: 'linux', architecture: 'amd64' });
  const h = applyMetadata(
    s,
    ins({
      kind: 'ENV',
      vars: [
        { key: 'A', value: '2' },
        { key: 'B', value: 'x y' },
      ],
    }),
    '2020-01-01T00:00:00Z',
  );
  assert.equal(s.image.config?.Env, ['PATH=/bin', 'A=2', 'B=x y']);
  assert.equal(h, { created: '2020-01-01T00:00:00Z', created_by: 'ENV A=2 B=x y', comment: 'buildkit.dockerfile.v0', empty_layer: true });
});

test('a scratch stage gets the default PATH and a base image hands its ONBUILD triggers over once', () => {
  assert.equal(baseConfigState(undefined, { os: 'linux', architecture: 'amd64' }).image.config?.Env, [DEFAULT_PATH]);
  assert.is(baseConfigState(base, { os: 'linux', architecture: 'amd64' }).image.config?.OnBuild, null);
});

test('EXPOSE expands ranges and defaults to tcp; bad ports are refused', () => {
  assert.equal(exposedPorts(['80', '53/udp', '8000-8002']), ['80/tcp', '53/udp', '8000/tcp', '8001/tcp', '8002/tcp']);
  assert.throws(() => exposedPorts(['http']));
});

test('HEALTHCHECK NONE disables the check; other metadata lands where Docker puts it', () => {
  const s = baseConfigState(base, { os: 'linux', architecture: 'amd64' });
  applyMetadata(s, ins({ kind: 'HEALTHCHECK', none: true, test: ['NONE'] }), undefined);
  applyMetadata(s, ins({ kind: 'STOPSIGNAL', signal: 'SIGQUIT' }), undefined);
  applyMetadata(s, ins({ kind: 'VOLUME', volumes: ['/data'] }), undefined);
  applyMetadata(s, ins({ kind: 'USER', user: 'nobody' }), undefined);
  applyMetadata(s, ins({ kind: 'LABEL', labels: [{ key: 'a', value: 'b' }] }), undefined);
  applyMetadata(s, ins({ kind: 'ONBUILD', expression: 'RUN echo later', trigger: {} }), undefined);
  const c = s.image.config!;
  assert.equal(c.Healthcheck, { Test: ['NONE'] });
  assert.is(c.StopSignal, 'SIGQUIT');
  assert.equal(c.Volumes, { '/data': {} });
  assert.is(c.User, 'nobody');
  assert.equal(c.Labels, { a: 'b' });
  assert.equal(c.OnBuild, ['RUN echo later']);
});

test('WORKDIR resolves relative paths against the current one', () => {
  assert.is(resolveWorkdir(undefined, 'app'), '/app');
  assert.is(resolveWorkdir('/app', 'src/'), '/app/src');
  assert.is(resolveWorkdir('/app', '../opt/'), '/opt');
});

test('WORKDIR keeps an absolute path as written, trailing slash included (as Docker and BuildKit do)', () => {
  assert.is(resolveWorkdir('/app', '/tmp/'), '/tmp/');
  assert.is(resolveWorkdir('/app', '/srv/../opt'), '/srv/../opt');
});

test.run();
