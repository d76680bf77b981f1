import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { containerResolvConf, DEFAULT_NAMESERVERS } from '../../../src/sandbox/etc-files.js';

test("resolv.conf of an isolated container drops the host's loopback nameservers and keeps the rest", () => {
  assert.is(
    containerResolvConf('search lan\nnameserver 10.0.0.1\nnameserver 127.0.0.1\nnameserver ::1\noptions ndots:2\n'),
    'search lan\nnameserver 10.0.0.1\noptions ndots:2\n',
  );
});

test("when only loopback nameservers were there (systemd-resolved's 127.0.0.53), Docker's defaults are written in", () => {
  const out = containerResolvConf('# managed by resolved\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n');
  assert.is(out, `# managed by resolved\noptions edns0 trust-ad\nsearch lan\n${DEFAULT_NAMESERVERS.map((n) => `nameserver ${n}\n`).join('')}`);
  assert.not.match(out, /127\.0\.0\.53/);
  assert.is(containerResolvConf(''), DEFAULT_NAMESERVERS.map((n) => `nameserver ${n}\n`).join(''));
  // A name that only starts like loopback is kept.
  assert.is(containerResolvConf('nameserver 127x.example\n'), 'nameserver 127x.example\n');
});

test.run();
