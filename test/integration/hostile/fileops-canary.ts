/**
 * Canary files for the hostile file-operation tests: a fresh directory under the host's /tmp, outside every
 * state root and build context, holding files whose content, times and (through atime, set older than mtime so
 * that relatime bumps it on any read) reads are recorded; `check()` fails if anything was added, changed or read.
 */
import { lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as assert from 'uvu/assert';

export interface Canary {
  dir: string;
  /** Asserts the directory holds exactly the planted files, unchanged and unread. */
  check(what: string): void;
  remove(): void;
}

const OLD_ATIME = new Date('2001-01-01T00:00:00Z');
const MTIME = new Date('2020-01-01T00:00:00Z');

export function plantCanary(files: Record<string, string>, prefix = 'kiln-canary-'): Canary {
  const dir = mkdtempSync(join('/tmp', prefix));
  for (const [name, content] of Object.entries(files)) {
    writeFileSync(join(dir, name), content, { mode: 0o644 });
    utimesSync(join(dir, name), OLD_ATIME, MTIME);
  }
  return {
    dir,
    check(what) {
      assert.equal(readdirSync(dir).sort(), Object.keys(files).sort(), `${what}: nothing is added to or removed from ${dir}`);
      for (const [name, content] of Object.entries(files)) {
        const p = join(dir, name);
        const st = lstatSync(p);
        assert.ok(st.isFile(), `${what}: ${p} is still a file`);
        // Read the times before the content: reading is what would move atime.
        assert.is(st.mtimeMs, MTIME.getTime(), `${what}: ${p} was not written`);
        assert.is(st.atimeMs, OLD_ATIME.getTime(), `${what}: ${p} was not read`);
        assert.is(readFileSync(p, 'utf8'), content, `${what}: ${p} keeps its content`);
        utimesSync(p, OLD_ATIME, MTIME);
      }
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
