/**
 * Platform lists and emulation detection without root: the tiny per-architecture ELF, matching a binfmt_misc
 * entry's magic under its mask, and the verdicts and error a fake binfmt_misc directory gives.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePlatformList, platformDirName } from '../../../src/image/platform.js';
import { binfmtEntries, canRunPlatform, checkEmulation, entryMatches, tinyElfFor } from '../../../src/sandbox/binfmt.js';
import { isKilnError } from '../../../src/errors.js';

// Debian's qemu-aarch64 magic and mask (/usr/lib/binfmt.d/qemu-aarch64.conf), as /proc shows them.
const AARCH64 = (name: string, flags: string) =>
  `enabled\ninterpreter /usr/bin/qemu-aarch64-static\nflags: ${flags}\noffset 0\nmagic 7f454c460201010000000000000000000200b700\nmask ffffffffffffff00fffffffffffffffffeffffff\n`;

test('platform lists are normalised as containerd does, duplicates dropped', () => {
  assert.equal(parsePlatformList('linux/amd64, arm64,linux/arm64/v8,arm,x86_64'), ['linux/amd64', 'linux/arm64', 'linux/arm/v7']);
  assert.equal(platformDirName('linux/arm/v7'), 'linux_arm_v7');
  assert.throws(() => parsePlatformList('linux//arm64'), /invalid platform/);
});

test("the tiny ELF of each architecture matches that architecture's registration and no other", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-binfmt-'));
  try {
    await writeFile(join(dir, 'qemu-aarch64'), AARCH64('qemu-aarch64', 'F'));
    const [e] = await binfmtEntries(dir);
    assert.is(e!.flags, 'F');
    assert.ok(entryMatches(e!, tinyElfFor('linux/arm64')!));
    assert.not.ok(entryMatches(e!, tinyElfFor('linux/s390x')!));
    assert.not.ok(entryMatches(e!, tinyElfFor('linux/arm/v7')!));
    assert.is(tinyElfFor('linux/s390x')![5], 2, 's390x is big-endian');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('no registration, or one without F, is a missing emulator with the exact fix', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-binfmt-'));
  try {
    assert.is((await canRunPlatform('linux/arm64', dir)).reason, 'no binfmt_misc registration for it');
    await writeFile(join(dir, 'qemu-aarch64'), AARCH64('qemu-aarch64', 'OP'));
    assert.match((await canRunPlatform('linux/arm64', dir)).reason!, 'lacks the F (fix-binary) flag');
    const err = await checkEmulation(['linux/arm64'], dir).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(isKilnError(err) && err.code === 'EMULATOR_MISSING');
    assert.match((err as Error).message, 'linux/arm64');
    assert.match(String((err as { hint?: string }).hint), 'apt-get install qemu-user-static && kiln setup binfmt');
    // The host's own platform never needs an emulator.
    assert.ok((await canRunPlatform(process.arch === 'x64' ? 'linux/amd64' : 'linux/arm64', dir)).ok);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
