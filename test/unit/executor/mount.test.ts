import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { syscallMount } from '../../../src/sandbox/mount.js';

test('syscallMount() passes overlay options as data and turns ro into MS_RDONLY', () => {
  const m = syscallMount({ type: 'overlay', source: 'overlay', options: ['lowerdir=/a:/b', 'ro', 'index=off'] });
  assert.equal(m, { bind: false, flags: 1, data: 'lowerdir=/a:/b,index=off' });
});

test('syscallMount() makes a read-only bind a bind plus a read-only remount', () => {
  assert.equal(syscallMount({ type: 'bind', source: '/x', options: ['rbind', 'ro'] }), { bind: true, flags: 1, data: null });
  assert.equal(syscallMount({ type: 'bind', source: '/x', options: ['rbind', 'rw'] }), { bind: true, flags: 0, data: null });
  assert.equal(syscallMount({ type: 'none', source: '/x', options: ['bind', 'nosuid', 'nodev'] })?.flags, 2 | 4);
});

test('syscallMount() leaves relative lower dirs and unknown flag words to mount(8)', () => {
  assert.is(syscallMount({ type: 'overlay', source: 'overlay', options: ['lowerdir=a:b'], cwd: '/s' }), undefined);
  assert.is(syscallMount({ type: 'bind', source: '/x', options: ['rbind', 'rprivate'] }), undefined);
  assert.is(syscallMount({ type: 'tmpfs', source: 'tmpfs', options: ['strictatime'] }), undefined);
});

test.run();
