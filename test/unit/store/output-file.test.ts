/**
 * writeOutputFile (kiln save -o, --output type=oci|docker,dest=FILE): the file appears only when complete, a
 * failed writer leaves neither a partial file nor its temp file, and a symlink planted at the destination is
 * replaced, never written through.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { writeOutputFile } from '../../../src/cache/atomic-file.js';

let dir: string;
test.before.each(() => {
  dir = mkdtempSync(join(tmpdir(), 'kiln-output-file-'));
});
test.after.each(() => rmSync(dir, { recursive: true, force: true }));

test('a failed write leaves no file and no temp file; an earlier file keeps its content', async () => {
  const dest = join(dir, 'image.tar');
  await writeOutputFile(dest, async (out) => {
    out.write('partial');
    throw new Error('disk gone');
  }).then(
    () => assert.unreachable('rejects'),
    (err: Error) => assert.is(err.message, 'disk gone'),
  );
  assert.equal(readdirSync(dir), []);
  writeFileSync(dest, 'old');
  await writeOutputFile(dest, async (out) => {
    out.write('half');
    throw new Error('again');
  }).catch(() => {});
  assert.is(readFileSync(dest, 'utf8'), 'old');
  assert.equal(readdirSync(dir), ['image.tar']);
});

test('a complete write replaces the destination; a symlink there is replaced, its target untouched', async () => {
  const victim = join(dir, 'victim');
  writeFileSync(victim, 'keep');
  const dest = join(dir, 'image.tar');
  symlinkSync(victim, dest);
  await writeOutputFile(dest, async (out) => {
    out.end('archive');
    await finished(out);
  });
  assert.ok(lstatSync(dest).isFile());
  assert.is(readFileSync(dest, 'utf8'), 'archive');
  assert.is(readFileSync(victim, 'utf8'), 'keep');
  assert.ok(!readdirSync(dir).some((n) => n.includes('.tmp-')));
  assert.ok(existsSync(victim));
});

test.run();
