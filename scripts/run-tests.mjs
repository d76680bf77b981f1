#!/usr/bin/env node
// Runs kiln's uvu suites and ends with the line "N passed, N failed, N skipped" that CI reads.
//
// Unit tests (test/unit, no root, seconds) run in one process. Integration tests (test/integration: runc,
// mounts, a registry) run one process per file with a time limit, so a crash or hang in one file is
// counted as a failure of that file instead of hiding the rest. uvu prints "Total:", "Passed:" and "Skipped:" per
// process; this script sums them. A skipped test (test/helpers/skip.ts: one that cannot run here, with its reason
// on a "[skip]" line) is never counted as passed, and a file that runs no test at all counts as a failure.
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

const root = resolve(new URL('..', import.meta.url).pathname);
const args = process.argv.slice(2);
const only = args.find((a) => !a.startsWith('--'));
const groups = args.includes('--unit') ? ['unit'] : args.includes('--integration') ? ['integration'] : ['unit', 'integration'];
const FILE_TIMEOUT_MS = Number(process.env.KILN_TEST_FILE_TIMEOUT_MS ?? 15 * 60_000);

function listTests(dir) {
  const out = [];
  let entries = [];
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries.sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listTests(p));
    else if (/\.test\.ts$/.test(name)) out.push(p);
  }
  return out;
}

/** Runs one uvu process over `files`; resolves to its counts. */
function runFiles(files, label, extraEnv = {}) {
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'scripts/uvu-group.mjs'), ...files], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, FORCE_COLOR: process.env.FORCE_COLOR ?? '0', ...extraEnv },
    });
    let text = '';
    const timer = setTimeout(() => {
      text += `\n[runner] ${label}: timed out after ${FILE_TIMEOUT_MS} ms\n`;
      child.kill('SIGKILL');
    }, FILE_TIMEOUT_MS);
    child.stdout.on('data', (d) => {
      text += d;
      process.stdout.write(d);
    });
    child.stderr.on('data', (d) => {
      text += d;
      process.stderr.write(d);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const plain = text.replace(/\x1b\[[0-9;]*m/g, '');
      const total = [...plain.matchAll(/Total:\s+(\d+)/g)].map((m) => Number(m[1])).pop();
      const passed = [...plain.matchAll(/Passed:\s+(\d+)/g)].map((m) => Number(m[1])).pop();
      const skipped = [...plain.matchAll(/Skipped:\s+(\d+)/g)].map((m) => Number(m[1])).pop() ?? 0;
      const reasons = [...plain.matchAll(/^\[skip\] (.*)$/gm)].map((m) => `${label}: ${m[1]}`);
      if (total === undefined || passed === undefined) {
        console.log(`[runner] ${label}: exited ${code} without a summary; counted as 1 failure`);
        done({ passed: 0, failed: 1, skipped: 0, reasons });
      } else if (total === 0 && skipped === 0) {
        console.log(`[runner] ${label}: ran no tests; counted as 1 failure`);
        done({ passed: 0, failed: 1, skipped: 0, reasons });
      } else {
        const failed = total - passed + (code !== 0 && total === passed ? 1 : 0);
        done({ passed, failed, skipped, reasons });
      }
    });
  });
}

let passed = 0,
  failed = 0,
  skipped = 0;
const skipReasons = [];
const add = (r) => {
  passed += r.passed;
  failed += r.failed;
  skipped += r.skipped;
  skipReasons.push(...r.reasons);
};

// The type check of sources, tests and benchmarks counts as one test: tests run through tsx, which strips types
// without checking them, so this is what keeps test code honest about the APIs it calls.
if (!only && groups.length === 2) {
  console.log('\n== typecheck (tsc -p tsconfig.test.json) ==');
  const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.test.json')], {
    cwd: root,
    encoding: 'utf8',
  });
  process.stdout.write(tsc.stdout + tsc.stderr);
  if (tsc.status === 0) {
    passed++;
    console.log('typecheck passed');
  } else {
    failed++;
    console.log('typecheck FAILED');
  }
}

for (const group of groups) {
  let files = listTests(join(root, 'test', group));
  if (only) files = files.filter((f) => f.includes(only));
  if (files.length === 0) continue;
  console.log(`\n== ${group} tests (${files.length} files) ==`);
  const batches = group === 'unit' ? [files] : files.map((f) => [f]);
  for (const batch of batches) {
    const label = batch.length === 1 ? relative(root, batch[0]) : group;
    if (batch.length === 1) console.log(`\n-- ${label}`);
    add(await runFiles(batch, label));
  }
}
// The CLI build tests and the conformance suite once more through the installed command (bin/kiln: the
// launcher and the root's resident builder, docs/daemon.md): a served build must give what an in-process one gives.
const SERVED_PARITY = ['test/integration/builder/cli-build.test.ts', 'test/integration/conformance/conformance.test.ts'];
if (groups.includes('integration') && !only) {
  console.log('\n== served builds (the same files through bin/kiln and its resident builder) ==');
  for (const f of SERVED_PARITY) {
    const label = `${f} (through bin/kiln)`;
    console.log(`\n-- ${label}`);
    add(await runFiles([join(root, f)], label, { KILN_TEST_VIA_BIN: '1', KILN_DAEMON_IDLE_SECONDS: '30' }));
  }
}
if (skipReasons.length > 0) console.log(`\nskipped:\n${skipReasons.map((r) => `  ${r}`).join('\n')}`);
console.log(`\n${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exitCode = failed === 0 && passed > 0 ? 0 : 1;
