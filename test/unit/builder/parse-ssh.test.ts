import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseSsh } from '../../../src/cli/commands/build.js';
import { KilnError } from '../../../src/errors.js';

test("parseSsh() takes the agent of SSH_AUTH_SOCK for a bare id, as BuildKit's --ssh default", () => {
  assert.equal(parseSsh('default', { SSH_AUTH_SOCK: '/tmp/agent.sock' }), { id: 'default', socket: '/tmp/agent.sock' });
  assert.equal(parseSsh('deploy', { SSH_AUTH_SOCK: '/tmp/agent.sock' }), { id: 'deploy', socket: '/tmp/agent.sock' });
});

test('parseSsh() takes ID=SOCKET as given', () => {
  assert.equal(parseSsh('gh=/run/user/0/gh.sock', {}), { id: 'gh', socket: '/run/user/0/gh.sock' });
});

test('parseSsh() refuses a bare id without SSH_AUTH_SOCK, a missing id and several key files', () => {
  const code = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      return (e as KilnError).code;
    }
    return undefined;
  };
  assert.is(
    code(() => parseSsh('default', {})),
    'INVALID_ARGUMENT',
  );
  assert.is(
    code(() => parseSsh('=/tmp/s', {})),
    'INVALID_ARGUMENT',
  );
  assert.is(
    code(() => parseSsh('default=/k1,/k2', {})),
    'NOT_IMPLEMENTED',
  );
});

test.run();
