import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveUserFrom } from '../../../src/sandbox/user.js';
import { throwsCode } from '../../helpers/assert.js';

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\n# comment\nalice:x:1000:1000:Alice:/home/alice:/bin/sh\nbob:x:1001:1001::/home/bob:/bin/sh\nbroken line\n';
const GROUP = 'root:x:0:\nwheel:x:10:alice,root\nstaff:x:50:alice, bob\nalice:x:1000:\nbob:x:1001:\n';
const r = (spec: string | undefined) => resolveUserFrom(spec, PASSWD, GROUP);

test("no user is root with root's supplementary groups", () => {
  assert.equal(r(undefined), { uid: 0, gid: 0, additionalGids: [0, 10], home: '/root' });
  assert.equal(r(''), r(undefined));
});

test('a name resolves uid, gid, home and the groups listing it as a member', () => {
  assert.equal(r('alice'), { uid: 1000, gid: 1000, additionalGids: [1000, 10, 50], home: '/home/alice' });
});

test('a numeric uid in passwd takes that entry; one not in passwd keeps gid 0', () => {
  assert.equal(r('1001'), { uid: 1001, gid: 1001, additionalGids: [1001, 50], home: '/home/bob' });
  assert.equal(r('4242'), { uid: 4242, gid: 0, additionalGids: [0], home: '/' });
});

test('an explicit group (name or gid) replaces the supplementary groups', () => {
  assert.equal(r('alice:staff'), { uid: 1000, gid: 50, additionalGids: [50], home: '/home/alice' });
  assert.equal(r('bob:77'), { uid: 1001, gid: 77, additionalGids: [77], home: '/home/bob' });
  assert.equal(r('5:6'), { uid: 5, gid: 6, additionalGids: [6], home: '/' });
});

test('an unknown user or group name is USER_NOT_FOUND naming it', () => {
  throwsCode(() => r('mallory'), 'USER_NOT_FOUND', /unable to find user mallory/);
  throwsCode(() => r('alice:nope'), 'USER_NOT_FOUND', /unable to find group nope/);
});

test('an image without /etc/passwd still runs numeric users and root', () => {
  assert.equal(resolveUserFrom('1000:1000', '', ''), { uid: 1000, gid: 1000, additionalGids: [1000], home: '/' });
  assert.equal(resolveUserFrom('', '', ''), { uid: 0, gid: 0, additionalGids: [0], home: '/' });
});

test.run();
