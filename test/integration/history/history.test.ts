/**
 * Build records through the real CLI: a local build's record with its stages, steps and whole logs (a RUN printing
 * 5 MiB keeps all of it), a failed build's Dockerfile:line and exit code, secrets kept out of the record, logs and
 * trace, the OTLP trace's shape, retention removing the oldest, and a SIGKILLed build leaving an incomplete record.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync, constants as zc } from 'node:zlib';
import { ensureBusyboxImage } from '../../../src/cache/busybox-image.js';
import { openRoot } from '../../../src/cache/root.js';
import { cleanupStale } from '../../../src/sandbox/cleanup.js';
import { unmountAll } from '../../../src/sandbox/mount.js';
import type { BuildRecord } from '../../../src/history/types.js';
import { kiln, REPO } from '../../helpers/kiln-cli.js';
import { validateOtlp } from '../../helpers/otlp-shape.js';

const DEV_ENTRY = fileURLToPath(new URL('../../../src/cli/dev.ts', import.meta.url));
const SECRET = 'kiln-secret-5f0c2a9e';
const ARG_SECRET = 'argsecret-77d1e3';

let dir: string;
let root: string;
const env = { KILN_DAEMON: '0' };

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-history-'));
  root = join(dir, 'root');
  const r = await openRoot(root);
  await ensureBusyboxImage(r, 'busybox:latest');
  await r.close();
});
test.after(async () => {
  await cleanupStale(root).catch(() => {});
  await unmountAll(dir).catch(() => {});
  await rm(dir, { recursive: true, force: true });
});

async function context(name: string, dockerfile: string): Promise<string> {
  const c = join(dir, name);
  await mkdir(c, { recursive: true });
  await writeFile(join(c, 'Dockerfile'), dockerfile);
  return c;
}

const ls = async (): Promise<BuildRecord[]> => {
  const r = await kiln(['history', 'ls', '--format', 'json'], { root, env });
  assert.is(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as BuildRecord[];
};

/** Every file of a record directory, gzip logs decompressed (a cut-short one up to its last flush). */
async function recordText(id: string): Promise<string> {
  let out = '';
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else {
        const data = await readFile(p);
        out += e.name.endsWith('.gz') ? gunzipSync(data, { finishFlush: zc.Z_SYNC_FLUSH }).toString('latin1') : data.toString('latin1');
      }
    }
  };
  await walk(join(root, 'history', id));
  return out;
}

test('a local build leaves a record: stages, steps, whole logs (5 MiB kept), secrets nowhere', async () => {
  const ctx = await context(
    'ok',
    [
      'FROM busybox AS base',
      'ARG API_TOKEN',
      'RUN echo hello && echo oops >&2',
      'RUN --mount=type=secret,id=s cat /run/secrets/s',
      'FROM base',
      'COPY --from=base /etc/passwd /copied',
      'RUN yes 0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ | head -c 5500000',
      '',
    ].join('\n'),
  );
  await writeFile(join(dir, 'secret'), SECRET);
  const b = await kiln(
    ['build', '--progress', 'plain', '-t', 'hist:1', '--build-arg', `API_TOKEN=${ARG_SECRET}`, '--secret', `id=s,src=${join(dir, 'secret')}`, ctx],
    {
      root,
      env,
      timeoutMs: 300_000,
    },
  );
  assert.is(b.code, 0, b.stderr);
  const [rec] = await ls();
  assert.ok(rec);
  assert.is(rec.status, 'completed');
  assert.is(rec.origin.kind, 'local');
  assert.equal(rec.tags, ['hist:1']);
  assert.is(rec.buildArgs.API_TOKEN, '[REDACTED]');
  assert.equal(rec.secrets, ['s']);
  assert.match(rec.dockerfile.digest, /^sha256:[0-9a-f]{64}$/);
  assert.match(rec.result!.imageId, /^sha256:/);
  assert.equal(
    rec.stages.map((s) => [s.label, s.dependsOn]),
    [
      ['base', []],
      ['', ['base']],
    ],
  );
  const run = rec.steps.find((s) => s.text.startsWith('RUN echo hello'))!;
  assert.is(run.status, 'executed');
  assert.is(run.loc?.line, 3);
  assert.ok(run.missReason, 'a miss says why');
  const copy = rec.steps.find((s) => s.kind === 'COPY')!;
  assert.ok((copy.bytesWritten ?? 0) > 0, 'the COPY step wrote a layer');
  const logs = await kiln(['history', 'logs', rec.id, '--step', String(run.id)], { root, env });
  assert.is(logs.stdout, 'hello\noops\n');
  // The 5 MiB step: its log is whole.
  const big = rec.steps.find((s) => s.text.includes('head -c'))!;
  const want = createHash('sha256').update(
    Buffer.from('0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ\n'.repeat(90_000)).subarray(0, 5_500_000),
  );
  const bigLog = await kiln(['history', 'logs', `^0`, '--step', String(big.id)], { root, env });
  assert.ok(bigLog.stdout.length > 5 * 1024 * 1024, `log kept whole (${bigLog.stdout.length} bytes)`);
  assert.is(createHash('sha256').update(bigLog.stdout).digest('hex'), want.digest('hex'));
  assert.is(big.logBytes, bigLog.stdout.length);
  // The secret's value and the secret-named arg's value are in no file of the record, nor in the trace.
  const text = await recordText(rec.id);
  assert.not.ok(text.includes(SECRET), 'secret value in the record');
  assert.not.ok(text.includes(ARG_SECRET), 'secret-named arg in the record');
  const tracePath = join(dir, 'trace.json');
  const t = await kiln(['history', 'trace', rec.id, '-o', tracePath], { root, env });
  assert.is(t.code, 0, t.stderr);
  const trace = await readFile(tracePath, 'utf8');
  assert.not.ok(trace.includes(SECRET));
  assert.equal(validateOtlp(JSON.parse(trace)), []);
  const all = await kiln(['history', 'logs', rec.id], { root, env });
  assert.match(all.stdout, new RegExp(`#${run.id} hello\\n`));
  const inspect = await kiln(['history', 'inspect', '^0'], { root, env });
  assert.match(inspect.stdout, /Status: +completed/);
  const exp = await kiln(['history', 'export', rec.id, '-o', join(dir, 'rec.tar')], { root, env });
  assert.is(exp.code, 0, exp.stderr);
  assert.ok((await readFile(join(dir, 'rec.tar'))).includes(Buffer.from(`${rec.id}/record.json`)));
});

test('a failed build records the step, Dockerfile:line and exit code', async () => {
  const ctx = await context('fail', 'FROM busybox\nRUN echo before\nRUN echo dying && exit 3\n');
  const b = await kiln(['build', '--progress', 'plain', ctx], { root, env });
  assert.is.not(b.code, 0);
  const [rec] = await ls();
  assert.is(rec!.status, 'failed');
  assert.equal(rec!.error!.loc, { file: 'Dockerfile', line: 3 });
  assert.is(rec!.error!.exitCode, 3);
  const failed = rec!.steps.find((s) => s.status === 'failed')!;
  assert.is(failed.id, rec!.error!.step);
  assert.is(failed.exitCode, 3);
  assert.is((await kiln(['history', 'logs', rec!.id, '--step', String(failed.id)], { root, env })).stdout, 'dying\n');
});

test('a build SIGKILLed mid-way leaves a record that reads incomplete', async () => {
  const ctx = await context('slow', 'FROM busybox\nRUN echo started && sleep 30\n');
  const child = spawn(process.execPath, ['--import', 'tsx', DEV_ENTRY, '--root', root, 'build', '--progress', 'plain', ctx], {
    cwd: REPO,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise((r) => child.on('close', r));
  try {
    const end = Date.now() + 60_000;
    // The record is rewritten at most once a second: wait for the output, then for the record to carry it.
    while (!out.includes('started') && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 1500));
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
  await cleanupStale(root).catch(() => {});
  const [rec] = await ls();
  assert.is(rec!.status, 'incomplete');
  const run = rec!.steps.find((s) => s.text.startsWith('RUN'))!;
  assert.is(run.status, 'cancelled');
  assert.is((await kiln(['history', 'logs', rec!.id, '--step', String(run.id)], { root, env })).stdout, 'started\n');
});

test('retention removes the oldest records', async () => {
  const before = await ls();
  assert.ok(before.length >= 3);
  const ctx = await context('tiny', 'FROM busybox\n');
  const b = await kiln(['build', ctx], { root, env: { ...env, KILN_HISTORY_MAX_RECORDS: '2' } });
  assert.is(b.code, 0, b.stderr);
  const after = await ls();
  assert.is(after.length, 2);
  assert.is(after[1]!.id, before[0]!.id, 'the newest of the earlier records stays');
});

test('history rm and bad input', async () => {
  const [rec] = await ls();
  const rm1 = await kiln(['history', 'rm', rec!.id], { root, env });
  assert.is(rm1.code, 0, rm1.stderr);
  const again = await kiln(['history', 'inspect', rec!.id], { root, env });
  assert.is.not(again.code, 0);
  assert.match(again.stderr, /no build record/);
  const bad = await kiln(['history', 'ls', '--filter', 'colour=red'], { root, env });
  assert.is.not(bad.code, 0);
  assert.match(bad.stderr, /unknown key/);
});

test.run();
