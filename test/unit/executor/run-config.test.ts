import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  imageVolumes,
  mergeEnv,
  parseCpus,
  parsePidsLimit,
  parseEnvFile,
  parseEnvFlags,
  parseMemory,
  parseVolume,
  resolveArgs,
} from '../../../src/containers/run-config.js';
import { parsePort } from '../../../src/sandbox/ports.js';
import { throwsCode } from '../../helpers/assert.js';

test("resolveArgs() follows Docker's ENTRYPOINT/CMD rules", () => {
  const cfg = { Entrypoint: ['ep'], Cmd: ['c1', 'c2'] };
  assert.equal(resolveArgs(cfg, []), ['ep', 'c1', 'c2']);
  assert.equal(resolveArgs(cfg, ['x']), ['ep', 'x']);
  assert.equal(resolveArgs(cfg, [], 'other'), ['other'], '--entrypoint drops the image CMD');
  assert.equal(resolveArgs(cfg, ['y'], 'other'), ['other', 'y']);
  assert.equal(resolveArgs(cfg, ['sh'], ''), ['sh'], 'an empty --entrypoint clears it');
  assert.equal(resolveArgs({ Cmd: ['sh'] }, []), ['sh']);
  throwsCode(() => resolveArgs({}, []), 'INVALID_ARGUMENT', /no command specified/);
});

test('environment: -e K takes the host value, env files skip comments, later keys win in first-seen order', () => {
  assert.equal(parseEnvFlags(['A=1', 'HOSTV', 'UNSET'], { HOSTV: 'h' }), ['A=1', 'HOSTV=h']);
  assert.equal(parseEnvFile('# c\n\nX=1\n  Y=two words\nHOSTV\n', 'f', { HOSTV: 'h' }), ['X=1', 'Y=two words', 'HOSTV=h']);
  throwsCode(() => parseEnvFile('BAD KEY=1\n', 'env.list'), 'INVALID_ARGUMENT', /env\.list:1/);
  assert.equal(mergeEnv(['PATH=/a', 'B=1'], ['B=2', 'C=3']), ['PATH=/a', 'B=2', 'C=3']);
});

test('parseVolume() tells host paths, named volumes and anonymous volumes apart', () => {
  assert.equal(parseVolume('/h:/c'), { kind: 'bind', source: '/h', target: '/c', readonly: false });
  assert.equal(parseVolume('./rel:/c:ro', '/base'), { kind: 'bind', source: '/base/rel', target: '/c', readonly: true });
  assert.equal(parseVolume('data:/c:rw'), { kind: 'volume', name: 'data', target: '/c', readonly: false });
  assert.equal(parseVolume('/only'), { kind: 'anonymous', target: '/only', readonly: false });
  throwsCode(() => parseVolume('data:rel'), 'INVALID_ARGUMENT', /must be absolute/);
  throwsCode(() => parseVolume('/h:/c:zz'), 'INVALID_ARGUMENT', /invalid mode/);
  throwsCode(() => parseVolume('b@d:/c'), 'INVALID_ARGUMENT', /invalid volume name/);
});

test('imageVolumes() gives anonymous volumes for VOLUMEs no -v covers', () => {
  const v = imageVolumes({ Volumes: { '/data': {}, '/logs/': {} } }, [parseVolume('xy:/data')]);
  assert.equal(v, [{ kind: 'anonymous', target: '/logs', readonly: false }]);
});

test("sizes, CPUs and ports parse as Docker's do", () => {
  assert.is(parseMemory('64m'), 64 * 1024 * 1024);
  assert.is(parseMemory('1g'), 1024 ** 3);
  assert.is(parseMemory('10485760'), 10485760);
  throwsCode(() => parseMemory('1k'), 'INVALID_ARGUMENT', /6MB/);
  throwsCode(() => parseMemory('lots'), 'INVALID_ARGUMENT');
  assert.is(parseCpus('0.5'), 0.5);
  throwsCode(() => parseCpus('-1'), 'INVALID_ARGUMENT');
  throwsCode(() => parseCpus('3', 2), 'INVALID_ARGUMENT', /from 0\.01 to 2\.00/);
  assert.is(parsePidsLimit('20'), 20);
  assert.is(parsePidsLimit('-1'), undefined);
  throwsCode(() => parsePidsLimit('many'), 'INVALID_ARGUMENT');
  assert.equal(parsePort('8080:80'), { hostIp: undefined, hostPort: 8080, containerPort: 80, protocol: 'tcp' });
  assert.equal(parsePort('127.0.0.1:8080:80/tcp'), { hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'tcp' });
  throwsCode(() => parsePort('70000:80'), 'INVALID_ARGUMENT');
  assert.equal(parsePort('127.0.0.1:5353:53/udp'), { hostIp: '127.0.0.1', hostPort: 5353, containerPort: 53, protocol: 'udp' });
  throwsCode(() => parsePort('53:53/sctp'), 'INVALID_ARGUMENT', /tcp or udp/);
});

test.run();
