/** Test fixtures for fileops: temp dirs and the shared conformance contexts, prepared (prepare.sh run) in a copy. */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONFORMANCE_CASES } from '../../helpers/shared-data.js';

export const CASES = CONFORMANCE_CASES;

const made: string[] = [];

/** A fresh temp dir, removed by cleanup(). */
export function tempDir(tag = 'fileops'): string {
  const d = mkdtempSync(join(tmpdir(), `kiln-${tag}-`));
  made.push(d);
  return d;
}

/** Removes every temp dir made so far. */
export function cleanup(): void {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** A writable copy of a conformance case's context with its prepare.sh applied. */
export function caseContext(name: string): string {
  const dir = tempDir(name);
  cpSync(join(CASES, name, 'context'), dir, { recursive: true });
  execFileSync('chmod', ['-R', 'u+w', dir]);
  const prep = join(CASES, name, 'prepare.sh');
  if (existsSync(prep)) execFileSync('sh', ['-e', prep], { cwd: dir });
  return dir;
}

/** `path -> description` of a tree: `d 755`, `f 644 <content>`, `l -> target`. */
export function listing(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string, rel: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const abs = join(dir, name);
      const r = `${rel}/${name}`;
      const st = lstatSync(abs);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isDirectory()) {
        out[r] = `d ${mode}`;
        walk(abs, r);
      } else if (st.isSymbolicLink()) out[r] = `l -> ${readlinkSync(abs)}`;
      else out[r] = `f ${mode} ${readFileSync(abs, 'utf8')}`;
    }
  };
  walk(root, '');
  return out;
}

export function read(root: string, p: string): string {
  return readFileSync(join(root, p), 'utf8');
}
