import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { applyChange } from '../../../src/image/change.js';
import type { ContainerConfig } from '../../../src/image/types.js';
import { throwsCode } from '../../helpers/assert.js';

test('applyChange() handles JSON and shell forms of CMD and ENTRYPOINT', () => {
  const c: ContainerConfig = {};
  applyChange(c, 'CMD ["sh", "-c", "echo hi"]');
  applyChange(c, 'ENTRYPOINT /bin/run --x');
  assert.equal(c.Cmd, ['sh', '-c', 'echo hi']);
  assert.equal(c.Entrypoint, ['/bin/sh', '-c', '/bin/run --x']);
});

test('applyChange() sets ENV (both forms), LABEL, EXPOSE, VOLUME, USER, WORKDIR, STOPSIGNAL', () => {
  const c: ContainerConfig = { Env: ['A=0'] };
  applyChange(c, 'ENV A=1 B="two words"');
  applyChange(c, 'ENV C legacy value');
  applyChange(c, 'LABEL org.x=1 "y z"=2');
  applyChange(c, 'EXPOSE 80 53/udp');
  applyChange(c, 'VOLUME ["/data"]');
  applyChange(c, 'user kiln');
  applyChange(c, 'WORKDIR app');
  applyChange(c, 'STOPSIGNAL SIGINT');
  assert.equal(c.Env, ['A=1', 'B=two words', 'C=legacy value']);
  assert.equal(c.Labels, { 'org.x': '1', 'y z': '2' });
  assert.equal(c.ExposedPorts, { '80/tcp': {}, '53/udp': {} });
  assert.equal(c.Volumes, { '/data': {} });
  assert.is(c.User, 'kiln');
  assert.is(c.WorkingDir, '/app');
  assert.is(c.StopSignal, 'SIGINT');
});

test('applyChange() rejects instructions Docker does not allow and bad values', () => {
  throwsCode(() => applyChange({}, 'RUN echo'), 'INVALID_ARGUMENT', /RUN cannot be used/);
  throwsCode(() => applyChange({}, 'EXPOSE http'), 'INVALID_ARGUMENT', /invalid port/);
  throwsCode(() => applyChange({}, 'ENV A="unterminated'), 'INVALID_ARGUMENT', /quote/);
  throwsCode(() => applyChange({}, ''), 'INVALID_ARGUMENT');
});

test.run();
