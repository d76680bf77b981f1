import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { KilnError } from '../../../src/errors.js';
import { nextBackoff, parseRestartFlag, restartPolicyOf, restartsOnBoot, shouldRestart } from '../../../src/containers/restart-policy.js';

test('--restart values parse as the docker CLI does', () => {
  assert.equal(parseRestartFlag('no'), { name: 'no', maximumRetryCount: 0 });
  assert.equal(parseRestartFlag('always'), { name: 'always', maximumRetryCount: 0 });
  assert.equal(parseRestartFlag('unless-stopped'), { name: 'unless-stopped', maximumRetryCount: 0 });
  assert.equal(parseRestartFlag('on-failure'), { name: 'on-failure', maximumRetryCount: 0 });
  assert.equal(parseRestartFlag('on-failure:2'), { name: 'on-failure', maximumRetryCount: 2 });
});

for (const bad of ['sometimes', 'always:3', 'on-failure:-1', 'on-failure:x', 'on-failure:1:2']) {
  test(`--restart ${bad} is refused`, () => {
    assert.throws(
      () => parseRestartFlag(bad),
      (e: unknown) => e instanceof KilnError && e.code === 'INVALID_ARGUMENT',
    );
  });
}

test('HostConfig.RestartPolicy: the CLI default is no policy; a count only with on-failure', () => {
  assert.equal(restartPolicyOf({ Name: 'no', MaximumRetryCount: 0 }).name, 'no');
  assert.equal(restartPolicyOf(null).name, '');
  assert.throws(() => restartPolicyOf({ Name: 'always', MaximumRetryCount: 2 }), /only be used with 'on-failure'/);
  assert.throws(() => restartPolicyOf({ Name: 1 }), /invalid restart policy/);
});

test('shouldRestart follows the policy, the retry count and a user stop', () => {
  const on2 = { name: 'on-failure' as const, maximumRetryCount: 2 };
  assert.ok(shouldRestart(on2, { exitCode: 1, restarts: 0, manuallyStopped: false }));
  assert.ok(shouldRestart(on2, { exitCode: 1, restarts: 1, manuallyStopped: false }));
  assert.not.ok(shouldRestart(on2, { exitCode: 1, restarts: 2, manuallyStopped: false }));
  assert.not.ok(shouldRestart(on2, { exitCode: 0, restarts: 0, manuallyStopped: false }));
  assert.ok(shouldRestart({ name: 'on-failure', maximumRetryCount: 0 }, { exitCode: 3, restarts: 99, manuallyStopped: false }));
  assert.ok(shouldRestart({ name: 'always', maximumRetryCount: 0 }, { exitCode: 0, restarts: 5, manuallyStopped: false }));
  assert.not.ok(shouldRestart({ name: 'always', maximumRetryCount: 0 }, { exitCode: 0, restarts: 0, manuallyStopped: true }));
  assert.not.ok(shouldRestart({ name: 'no', maximumRetryCount: 0 }, { exitCode: 1, restarts: 0, manuallyStopped: false }));
  assert.not.ok(shouldRestart(undefined, { exitCode: 1, restarts: 0, manuallyStopped: false }));
});

test('back-off: 100 ms doubling to a minute, reset after a run of 10 s', () => {
  let d = 0;
  const seen: number[] = [];
  for (let i = 0; i < 12; i++) seen.push((d = nextBackoff(d, 50)));
  assert.equal(seen.slice(0, 4), [100, 200, 400, 800]);
  assert.equal(seen.at(-1), 60_000);
  assert.equal(nextBackoff(60_000, 10_000), 100);
});

test('boot restarts always, and unless-stopped unless a user stopped it', () => {
  assert.ok(restartsOnBoot({ restartPolicy: { name: 'always', maximumRetryCount: 0 }, manuallyStopped: true }));
  assert.ok(restartsOnBoot({ restartPolicy: { name: 'unless-stopped', maximumRetryCount: 0 } }));
  assert.not.ok(restartsOnBoot({ restartPolicy: { name: 'unless-stopped', maximumRetryCount: 0 }, manuallyStopped: true }));
  assert.not.ok(restartsOnBoot({ restartPolicy: { name: 'on-failure', maximumRetryCount: 0 } }));
  assert.not.ok(restartsOnBoot({}));
});

test.run();
