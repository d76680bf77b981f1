/**
 * The opt-in phase timer (src/cache/profile.ts): off, it only runs what it wraps and writes nothing; with
 * KILN_PROFILE=FILE, each phase becomes one JSON line charged to the step it ran in (across awaits). Each case
 * runs in a child process, since the switch is read once when the module loads.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MODULE = fileURLToPath(new URL('../../../src/cache/profile.ts', import.meta.url));

const SCRIPT = `
const p = await import(${JSON.stringify(MODULE)});
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const out = await p.inStep('2 RUN true', () => p.phase('outer', async () => {
  await sleep(5);
  await p.phase('inner', () => sleep(20));
  const t = p.clock();
  await sleep(1);
  p.since('tail', t);
  return 42;
}));
await p.phase('failing', async () => { throw new Error('x'); }).catch(() => {});
p.since('meta', p.clock(), 'ENV A=1');
console.log(JSON.stringify({ out, profiling: p.profiling }));
`;

function runScript(env: Record<string, string>): { out: number; profiling: boolean } {
  const stdout = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', SCRIPT], {
    env: { ...process.env, KILN_PROFILE: '', ...env },
    encoding: 'utf8',
  });
  return JSON.parse(stdout.trim().split('\n').pop()!);
}

test('off by default: the wrapped work runs and nothing is written', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-profile-'));
  try {
    const r = runScript({});
    assert.is(r.out, 42);
    assert.is(r.profiling, false);
    assert.not.ok(existsSync(join(dir, 'p.jsonl')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('KILN_PROFILE=FILE: one line per phase, charged to its step, timed also when it throws', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-profile-'));
  try {
    const file = join(dir, 'p.jsonl');
    const r = runScript({ KILN_PROFILE: file });
    assert.is(r.out, 42);
    assert.is(r.profiling, true);
    const lines = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { step: string; phase: string; ms: number });
    assert.equal(
      lines.map((l) => [l.step, l.phase]),
      [
        ['2 RUN true', 'inner'],
        ['2 RUN true', 'tail'],
        ['2 RUN true', 'outer'],
        ['', 'failing'],
        ['ENV A=1', 'meta'],
      ],
    );
    const ms = Object.fromEntries(lines.map((l) => [l.phase, l.ms]));
    assert.ok(ms.inner! >= 15, `inner ${ms.inner}`);
    assert.ok(ms.outer! >= ms.inner! + ms.tail!, `outer ${ms.outer} covers inner ${ms.inner} and tail ${ms.tail}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
