/**
 * Build records of builds served by `kiln serve`: a `docker build` through it leaves a record naming the client's
 * address, and `kiln --host … history ls|inspect|logs|trace|rm` read and remove the server's records through
 * `/kiln/v1/history`.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BuildRecord } from '../../../src/history/types.js';
import { kiln } from '../../helpers/kiln-cli.js';
import { validateOtlp } from '../../helpers/otlp-shape.js';
import { docker, startServe, type Served } from '../server/serve-helper.js';

let s: Served;
let dir: string;

test.before(async () => {
  s = await startServe({ args: ['--history-max-records', '10'] });
  dir = await mkdtemp(join(tmpdir(), 'kiln-history-served-'));
});
test.after(async () => {
  await s.stop();
  await rm(dir, { recursive: true, force: true });
});

const remote = (args: string[]) => kiln(['--host', s.host, ...args], { env: { KILN_DAEMON: '0' } });

test('a docker build through kiln serve leaves a record read back with --host', async () => {
  await writeFile(join(dir, 'Dockerfile'), 'FROM busybox\nRUN echo served-output\n');
  const b = await docker(s, ['build', '-t', 'served:1', dir], { timeoutMs: 120_000 });
  assert.is(b.code, 0, b.stderr);
  const ls = await remote(['history', 'ls', '--format', 'json']);
  assert.is(ls.code, 0, ls.stderr);
  const [rec] = JSON.parse(ls.stdout) as BuildRecord[];
  assert.is(rec!.status, 'completed');
  assert.is(rec!.origin.kind, 'server');
  assert.match(rec!.origin.address ?? '', /^127\.0\.0\.1:\d+$/);
  // The context as the client sent it: the sha256 of its tar.
  assert.match(rec!.contextDigest ?? '', /^sha256:[0-9a-f]{64}$/);
  assert.ok(
    rec!.tags.some((t) => t.includes('served:1')),
    rec!.tags.join(),
  );
  const run = rec!.steps.find((x) => x.kind === 'RUN')!;
  const logs = await remote(['history', 'logs', '^0', '--step', String(run.id)]);
  assert.is(logs.code, 0, logs.stderr);
  assert.is(logs.stdout, 'served-output\n');
  const inspect = await remote(['history', 'inspect', rec!.id.slice(0, 10), '--format', 'json']);
  assert.is((JSON.parse(inspect.stdout) as BuildRecord).id, rec!.id);
  const t = await remote(['history', 'trace', rec!.id, '-o', join(dir, 'trace.json')]);
  assert.is(t.code, 0, t.stderr);
  assert.equal(validateOtlp(JSON.parse(await readFile(join(dir, 'trace.json'), 'utf8'))), []);
  const missing = await remote(['history', 'inspect', 'zzzzzzzzzz']);
  assert.is.not(missing.code, 0);
  const rm1 = await remote(['history', 'rm', rec!.id]);
  assert.is(rm1.code, 0, rm1.stderr);
  assert.equal(JSON.parse((await remote(['history', 'ls', '--format', 'json'])).stdout), []);
});

test.run();
