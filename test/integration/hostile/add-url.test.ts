/**
 * ADD of a URL never writes outside its download directory: a file name from the URL's path (percent-decoded
 * `..%2F` segments) or from a hostile `Content-Disposition` is one base name, so the bytes land in the image
 * under that name and nowhere on the host. Locally (`kiln build`) and through `kiln serve` (docker CLI).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kiln } from '../../helpers/kiln-cli.js';
import { docker, startServe, type Served } from '../server/serve-helper.js';
import { plantCanary, type Canary } from './canary.js';

let work: string;
let root: string;
let server: http.Server;
let port: number;
let canary: Canary;
let served: Served;
const hits: string[] = [];

/** `..%2F` far past any root depth, then the canary directory's path, all in one URL segment. */
const up = '..%2F'.repeat(40);
const toCanary = (name: string) => `${up}${canary.dir.slice(1).split('/').join('%2F')}%2F${name}`;

test.before(async () => {
  work = mkdtempSync(join(tmpdir(), 'kiln-hostile-add-'));
  root = join(work, 'root');
  canary = await plantCanary({ extra: { victim: 'host file: must keep this content\n' } });
  const up2231 = '..%2F'.repeat(40);
  server = http.createServer((req, res) => {
    const url = req.url ?? '';
    hits.push(url);
    const headers: Record<string, string> = {};
    let body = 'other';
    if (url.startsWith('/x/') && url.endsWith('pwned')) body = 'P';
    else if (url.startsWith('/x/') && url.endsWith('victim')) body = 'V';
    else if (url === '/cd/1') {
      body = 'C1';
      headers['Content-Disposition'] = `attachment; filename="${'../'.repeat(40)}${canary.dir.slice(1)}/cd-pwned"`;
    } else if (url === '/cd/2') {
      body = 'C2';
      headers['Content-Disposition'] = `attachment; filename*=UTF-8''${up2231}${canary.dir.slice(1).split('/').join('%2F')}%2Fvictim`;
    } else if (url === '/cd/3') {
      body = 'C3';
      headers['Content-Disposition'] = 'attachment; filename=".."';
    }
    res.writeHead(200, headers);
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
  const base = await kiln(['base', 'busybox'], { root });
  assert.is(base.code, 0, base.stderr);
  served = await startServe();
});

test.after(async () => {
  await served?.stop();
  server?.close();
  await canary?.remove();
  rmSync(work, { recursive: true, force: true });
});

function context(): string {
  const dir = mkdtempSync(join(work, 'ctx-'));
  const u = `http://127.0.0.1:${port}`;
  writeFileSync(
    join(dir, 'Dockerfile'),
    [
      'FROM busybox',
      `ADD ${u}/x/${toCanary('pwned')} /url/`,
      `ADD ${u}/x/${toCanary('victim')} /url/`,
      `ADD ${u}/cd/1 /cd/`,
      `ADD ${u}/cd/2 /cd/`,
      `ADD ${u}/cd/3 /cd3/`,
      // The bytes are in the image under their base names (Content-Disposition wins over the URL, as in BuildKit).
      'RUN test "$(cat /url/pwned)" = P && test "$(cat /url/victim)" = V && test "$(cat /cd/cd-pwned)" = C1 && test "$(cat /cd/victim)" = C2 && test "$(cat /cd3/__unnamed__)" = C3 && test "$(ls /url /cd /cd3 | wc -w)" = 8',
      '',
    ].join('\n'),
  );
  return dir;
}

test('kiln build: ADD of ..%2F URLs and hostile Content-Disposition names writes nothing on the host', async () => {
  hits.length = 0;
  const ctx = context();
  const r = await kiln(['build', '--progress', 'plain', '-t', 'hostile-add:local', ctx], { root, env: { KILN_DAEMON: '0' } });
  await canary.assertUntouched('local build');
  assert.is(r.code, 0, r.stderr);
  assert.ok(
    hits.some((h) => h.includes('..%2F') && h.endsWith('victim')),
    `the server saw the hostile URL: ${hits.join(' ')}`,
  );
  assert.ok(hits.includes('/cd/2'));
});

test('kiln serve (docker CLI): the same Dockerfile writes nothing on the host', async () => {
  hits.length = 0;
  const ctx = context();
  const r = await docker(served, ['build', '-t', 'hostile-add:served', '.'], { cwd: ctx });
  await canary.assertUntouched('served build');
  assert.is(r.code, 0, r.stderr + r.stdout);
  assert.ok(
    hits.some((h) => h.includes('..%2F') && h.endsWith('pwned')),
    `the server saw the hostile URL: ${hits.join(' ')}`,
  );
  assert.ok(hits.includes('/cd/1'));
});

test.run();
