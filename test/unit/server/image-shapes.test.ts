import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { forApiVersion, fullConfig, hasVirtualSize } from '../../../src/server/image-shapes.js';

test("VirtualSize stays below API 1.44 and goes from 1.44 on (and on a bare path, kiln's newest API)", () => {
  assert.ok(hasVirtualSize('1.41'));
  assert.ok(hasVirtualSize('1.43'));
  assert.not.ok(hasVirtualSize('1.44'));
  assert.not.ok(hasVirtualSize('1.45'));
  assert.not.ok(hasVirtualSize(undefined));
  assert.equal(forApiVersion({ Size: 5, VirtualSize: 5 }, '1.44'), { Size: 5 });
  assert.equal(forApiVersion({ Size: 5, VirtualSize: 5 }, '1.41'), { Size: 5, VirtualSize: 5 });
});

test("fullConfig() has every key of Docker's container.Config, zero values where the image sets nothing", () => {
  assert.equal(fullConfig(undefined), {
    Hostname: '',
    Domainname: '',
    User: '',
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    Tty: false,
    OpenStdin: false,
    StdinOnce: false,
    Env: null,
    Cmd: null,
    Image: '',
    Volumes: null,
    WorkingDir: '',
    Entrypoint: null,
    OnBuild: null,
    Labels: null,
  });
  const c = fullConfig({ Cmd: ['sh'], ExposedPorts: { '80/tcp': {} }, StopSignal: 'SIGINT', Labels: { a: 'b' } });
  assert.equal(c.Cmd, ['sh']);
  assert.equal(c.ExposedPorts, { '80/tcp': {} });
  assert.is(c.StopSignal, 'SIGINT');
  assert.equal(c.Labels, { a: 'b' });
});

test.run();
