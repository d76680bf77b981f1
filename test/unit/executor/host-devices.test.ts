import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { statSync } from 'node:fs';
import { hostDevices, splitRdev } from '../../../src/sandbox/host-devices.js';

test('splitRdev() decodes Linux dev_t, large majors and minors included', () => {
  assert.equal(splitRdev(0x0103), [1, 3]); // /dev/null
  // major 0x1234: low 12 bits at 8..19, the rest from bit 32; minor 0xabc56: low 8 bits at 0..7, the rest from bit 12.
  const rdev = (0x234n << 8n) | (0x1000n << 32n) | 0x56n | (0xabc00n << 12n);
  assert.equal(splitRdev(rdev), [0x1234, 0xabc56]);
});

test("hostDevices() lists /dev's character and block devices with their numbers, not /dev/pts, /dev/shm or the console", async () => {
  const list = await hostDevices();
  const nul = list.find((d) => d.path === '/dev/null');
  assert.ok(nul, '/dev/null is listed');
  assert.equal([nul!.type, nul!.major, nul!.minor], ['c', 1, 3]);
  assert.is(nul!.fileMode, statSync('/dev/null').mode & 0o7777);
  assert.not.ok(list.some((d) => d.path.startsWith('/dev/pts/') || d.path.startsWith('/dev/shm/') || d.path === '/dev/console'));
});

test.run();
