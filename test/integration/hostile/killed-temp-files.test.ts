/**
 * What a SIGKILL leaves is cleaned by the next run: a killed `kiln save -o FILE` leaves `.FILE.tmp-*` (up to the
 * whole archive) beside FILE, removed by the next `kiln save -o FILE`; a build killed while writing a cache record
 * leaves `gc-roots/*.tmp` (and inputs/slots ones), removed by `kiln prune` and by the next build. A writer that
 * is still alive (here: stopped with SIGSTOP) keeps its file and finishes normally afterwards.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kiln } from '../../helpers/kiln-cli.js';

const DEV_ENTRY = fileURLToPath(new URL('../../../src/cli/dev.ts', import.meta.url));

let work: string;
let root: string;
const children: ChildProcess[] = [];

test.before(async () => {
  work = mkdtempSync(join(tmpdir(), 'kiln-hostile-killed-'));
  root = join(work, 'root');
  const base = await kiln(['base', 'busybox'], { root });
  assert.is(base.code, 0, base.stderr);
  const ctx = join(work, 'ctx');
  mkdirSync(ctx);
  // Incompressible, so the archive takes long enough to write that a kill lands in the middle of it.
  writeFileSync(join(ctx, 'Dockerfile'), 'FROM busybox\nRUN head -c 64000000 /dev/urandom > /big\n');
  const b = await kiln(['build', '-t', 'big', ctx], { root, env: { KILN_DAEMON: '0' }, timeoutMs: 300_000 });
  assert.is(b.code, 0, b.stderr);
});

test.after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

const temps = (dir: string, prefix: string) => readdirSync(dir).filter((n) => n.startsWith(prefix));

/** Starts `kiln save -o out big` and sends `signal` as soon as its temp file appears; returns the file's name. */
async function interruptSave(out: string, signal: NodeJS.Signals): Promise<{ name: string; child: ChildProcess; exited: Promise<number | null> }> {
  const prefix = `.${out.split('/').pop()}.tmp-`;
  const before = new Set(temps(work, prefix));
  const child = spawn(process.execPath, ['--import', 'tsx', DEV_ENTRY, '--root', root, 'save', '-o', out, 'big'], { stdio: 'ignore' });
  children.push(child);
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  const deadline = Date.now() + 60_000;
  for (;;) {
    const fresh = temps(work, prefix).find((n) => !before.has(n));
    if (fresh) {
      child.kill(signal);
      return { name: fresh, child, exited };
    }
    assert.ok(child.exitCode === null, 'the save was caught while writing');
    assert.ok(Date.now() < deadline, 'the save started writing');
    await new Promise((r) => setTimeout(r, 2));
  }
}

test("the next kiln save -o FILE removes a SIGKILLed save's temp file, not a live writer's", async () => {
  const out = join(work, 'img.tar');
  const dead = await interruptSave(out, 'SIGKILL');
  await dead.exited;
  assert.ok(existsSync(join(work, dead.name)), 'the kill left a temp file');
  const live = await interruptSave(out, 'SIGSTOP');
  const liveSize = statSync(join(work, live.name)).size;

  const r = await kiln(['save', '-o', out, 'big'], { root, timeoutMs: 120_000 });
  assert.is(r.code, 0, r.stderr);
  assert.ok(statSync(out).size > 64_000_000, 'the archive is complete');
  assert.not.ok(existsSync(join(work, dead.name)), "the dead writer's temp file is gone");
  assert.ok(existsSync(join(work, live.name)), "the stopped (live) writer's temp file is kept");
  assert.is(statSync(join(work, live.name)).size, liveSize, 'and untouched');

  live.child.kill('SIGCONT');
  assert.is(await live.exited, 0, 'the live writer finishes');
  assert.equal(temps(work, '.img.tar.tmp-'), [], 'no temp file remains');
});

/** A `pid.starttime` token of a process: SIGKILLed (dead) or left running (live). */
async function token(kill: boolean): Promise<{ token: string; child: ChildProcess }> {
  const child = spawn('sleep', ['300'], { stdio: 'ignore' });
  children.push(child);
  await new Promise((r) => child.on('spawn', r));
  const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
  const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  if (kill) {
    const gone = new Promise((r) => child.on('close', r));
    child.kill('SIGKILL');
    await gone;
  }
  return { token: `${child.pid}.${start}`, child };
}

/** Plants what a build killed between writing a cache record's temp file and renaming it leaves. */
function plantRecordTemps(tok: string, tag: string): string[] {
  const files = [
    join(root, 'gc-roots', `build-cache-${tag}.json.${tok}.0123456789ab.tmp`),
    join(root, 'build-cache', 'inputs', `${tag}.json.${tok}.0123456789ab.tmp`),
    join(root, 'build-cache', 'slots', `${tag}.${tok}.0123456789ab.tmp`),
  ];
  for (const f of files) {
    mkdirSync(join(f, '..'), { recursive: true });
    writeFileSync(f, '');
  }
  return files;
}

test("kiln prune and the next build remove a killed build's gc-roots/*.tmp, not a live writer's", async () => {
  const live = await token(false);
  const liveFiles = plantRecordTemps(live.token, 'live');
  const deadFiles = plantRecordTemps((await token(true)).token, 'dead');
  const p = await kiln(['prune'], { root });
  assert.is(p.code, 0, p.stderr);
  for (const f of deadFiles) assert.not.ok(existsSync(f), `prune removed ${f}`);
  for (const f of liveFiles) assert.ok(existsSync(f), `prune kept the live writer's ${f}`);

  const again = plantRecordTemps((await token(true)).token, 'dead2');
  const b = await kiln(['build', '-t', 'big', join(work, 'ctx')], { root, env: { KILN_DAEMON: '0' }, timeoutMs: 120_000 });
  assert.is(b.code, 0, b.stderr);
  for (const f of again) assert.not.ok(existsSync(f), `the next build removed ${f}`);
  for (const f of liveFiles) assert.ok(existsSync(f), `the build kept the live writer's ${f}`);
  live.child.kill('SIGKILL');
});

test.run();
