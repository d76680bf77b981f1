import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseFlags, type FlagDef } from '../../../src/containers/cli-flags.js';
import { throwsCode } from '../../helpers/assert.js';

const DEFS: FlagDef[] = [
  { name: 'rm', help: '' },
  { name: 'detach', short: 'd', help: '' },
  { name: 'interactive', short: 'i', help: '' },
  { name: 'tty', short: 't', help: '' },
  { name: 'env', short: 'e', value: 'multi', help: '' },
  { name: 'publish', short: 'p', value: 'multi', help: '' },
  { name: 'network', aliases: ['net'], value: 'single', help: '' },
];

test('flags stop at the first operand; the command keeps its own flags', () => {
  const r = parseFlags(['--rm', '-p', '80:80', 'img', 'httpd', '-f', '-p', '80'], DEFS);
  assert.equal(r.flags, { rm: true, publish: ['80:80'] });
  assert.is(r.target, 'img');
  assert.equal(r.rest, ['httpd', '-f', '-p', '80']);
});

test('clustered short flags, attached values, --k=v and aliases', () => {
  const r = parseFlags(['-dit', '-eA=1', '-e', 'B=2', '--net=host', '--publish=1:2', 'img'], DEFS);
  assert.equal(r.flags, { detach: true, interactive: true, tty: true, env: ['A=1', 'B=2'], network: 'host', publish: ['1:2'] });
  assert.equal(parseFlags(['--', '-weird-image'], DEFS).target, '-weird-image');
});

test('unknown flags and missing values are clear errors', () => {
  throwsCode(() => parseFlags(['--bogus', 'img'], DEFS), 'INVALID_ARGUMENT', /unknown flag: --bogus/);
  throwsCode(() => parseFlags(['-x', 'img'], DEFS), 'INVALID_ARGUMENT', /unknown shorthand flag: 'x'/);
  throwsCode(() => parseFlags(['-e'], DEFS), 'INVALID_ARGUMENT', /needs an argument/);
});

test.run();
