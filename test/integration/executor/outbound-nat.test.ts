/**
 * Outbound traffic from a bridge container is masqueraded: a container reaches a server outside its subnet, and
 * the server sees the host's address, not the container's (which it could not answer). The "outside" is a
 * network namespace this test creates (10.201.<n>.0/30 on a veth pair), so no packet leaves the machine.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kiln } from '../../helpers/kiln-cli.js';

const tag = randomBytes(3).toString('hex');
const ns = `kiln-test-out-${tag}`;
const hostIf = `kto${tag}`;
const nsIf = `kti${tag}`;
const octet = 200 + (parseInt(tag.slice(0, 2), 16) % 50);
const hostIp = `10.201.${octet}.1`;
const outsideIp = `10.201.${octet}.2`;
let dir = '';
let root = '';
let httpd: ChildProcess | undefined;
const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-nat-'));
  root = join(dir, 'root');
  assert.is((await kiln(['base', 'busybox'], { root })).code, 0);
  ip('netns', 'add', ns);
  ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf);
  ip('link', 'set', nsIf, 'netns', ns);
  ip('addr', 'add', `${hostIp}/30`, 'dev', hostIf);
  ip('link', 'set', hostIf, 'up');
  ip('-n', ns, 'addr', 'add', `${outsideIp}/30`, 'dev', nsIf);
  ip('-n', ns, 'link', 'set', nsIf, 'up');
  ip('-n', ns, 'link', 'set', 'lo', 'up');
  // A web server in the outside namespace whose CGI answers with the address the request came from.
  const www = join(dir, 'www');
  await mkdir(join(www, 'cgi-bin'), { recursive: true });
  await writeFile(join(www, 'cgi-bin', 'from'), '#!/bin/sh\necho "Content-Type: text/plain"\necho\necho "$REMOTE_ADDR"\n');
  await chmod(join(www, 'cgi-bin', 'from'), 0o755);
  httpd = spawn('ip', ['netns', 'exec', ns, 'busybox', 'httpd', '-f', '-p', `${outsideIp}:8080`, '-h', www], { stdio: 'ignore' });
});

test.after(async () => {
  httpd?.kill('SIGKILL');
  try {
    ip('link', 'del', hostIf);
  } catch {
    /* gone with the namespace */
  }
  try {
    ip('netns', 'del', ns);
  } catch {
    /* never made */
  }
  await rm(dir, { recursive: true, force: true });
});

test('a bridge container reaches an address outside its subnet, masqueraded as the host', async () => {
  // HTTP by hand over busybox nc: the static busybox's wget crashes in its resolver (Debian's busybox-static).
  const get = (network: string[]) =>
    kiln(['run', '--rm', ...network, 'busybox', 'sh', '-c', `printf 'GET /cgi-bin/from HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${outsideIp} 8080`], { root });
  let r = { code: 1, stdout: '', stderr: '' };
  for (let i = 0; i < 20 && !r.stdout.includes('200 OK'); i++) {
    r = await get([]);
    if (!r.stdout.includes('200 OK')) await new Promise((res) => setTimeout(res, 200)); // httpd still starting
  }
  assert.match(r.stdout, /^HTTP\/1\.[01] 200 OK/, r.stdout + r.stderr);
  assert.is(r.stdout.trim().split(/\r?\n/).at(-1), hostIp, "the outside saw the host's address: the container's 10.89.x.y was masqueraded");
  const none = await get(['--network', 'none']);
  assert.not.match(none.stdout, /200 OK/, 'with --network none nothing gets out');
});

test.run();
