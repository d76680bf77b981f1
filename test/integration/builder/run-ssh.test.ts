/**
 * `RUN --mount=type=ssh` against a real ssh-agent holding a throwaway key: the step lists the key through its
 * own socket and SSH_AUTH_SOCK; the agent's path is in no key, record, layer or config; a required mount with
 * no `--ssh` names its Dockerfile line. ssh-add runs from a bind mount of the host's binary and libraries.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isKilnError } from '../../../src/errors.js';
import { createHarness, type Harness } from './harness.js';

let h: Harness;
const agents: ChildProcess[] = [];

async function startAgent(name: string): Promise<string> {
  const sock = join(h.dir, `${name}.sock`);
  const child = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
  agents.push(child);
  for (let i = 0; i < 200 && !(await stat(sock).catch(() => undefined)); i++) await new Promise((r) => setTimeout(r, 10));
  return sock;
}

/** The host's ssh-add and the libraries it loads, laid out for `ld-linux --library-path /s/lib /s/ssh-add`. */
async function sshAddTree(ctx: string): Promise<void> {
  await mkdir(join(ctx, 'sshroot', 'lib'), { recursive: true });
  await copyFile('/usr/bin/ssh-add', join(ctx, 'sshroot', 'ssh-add'));
  for (const line of execFileSync('ldd', ['/usr/bin/ssh-add'], { encoding: 'utf8' }).split('\n')) {
    const lib = /(\/\S+) \(0x/.exec(line)?.[1];
    if (lib) await copyFile(lib, join(ctx, 'sshroot', 'lib', lib.split('/').pop()!));
  }
}

const SSH_ADD = '/s/lib/ld-linux-x86-64.so.2 --library-path /s/lib /s/ssh-add';
const output = (events: Array<{ type: string }>) =>
  events
    .filter((e): e is { type: 'step-output'; data: string } => e.type === 'step-output')
    .map((e) => e.data)
    .join('');

async function grepDir(dir: string, needle: string): Promise<string[]> {
  const hits: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const p = join(e.parentPath ?? (e as unknown as { path: string }).path, e.name);
    if ((await readFile(p)).includes(needle)) hits.push(p);
  }
  return hits;
}

test.before(async () => {
  h = await createHarness();
});
test.after(async () => {
  for (const a of agents) a.kill();
  await h?.close();
});

test('RUN --mount=type=ssh lists the key of the --ssh agent; the agent path is in no key or image', async () => {
  const sock = await startAgent('agent-a');
  const key = join(h.dir, 'id_test');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'kiln-throwaway-key', '-f', key]);
  execFileSync('ssh-add', ['-q', key], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: 'ignore' });
  const ctx = await h.context({
    Dockerfile: `FROM busybox\nRUN --mount=type=bind,source=sshroot,target=/s --mount=type=ssh echo "sock=$SSH_AUTH_SOCK" && ls -l $SSH_AUTH_SOCK && ${SSH_ADD} -l > /listed\n`,
  });
  await sshAddTree(ctx);
  const r = await h.build(ctx, { tags: ['ssh:1'], ssh: [{ id: 'default', socket: sock }] });
  assert.match(output(r.events), /sock=\/run\/buildkit\/ssh_agent\.0/);
  assert.match(output(r.events), /srw-------/, "the socket has the mount's default mode 0600");
  const tree = await h.tree('ssh:1');
  assert.ok(tree.some((e) => e.path === 'listed'));
  assert.not.ok(
    tree.some((e) => e.path.startsWith('run/buildkit')),
    'the socket is not in the layer',
  );
  const { gunzipSync } = await import('node:zlib');
  const img = await h.image('ssh:1');
  const layer = gunzipSync(await h.builder.root.content.readBuffer(img.manifest.layers.at(-1)!.digest)).toString('latin1');
  assert.match(layer, /SHA256:\S+ kiln-throwaway-key \(ED25519\)/, 'ssh-add -l saw the key');
  assert.equal(await grepDir(h.rootDir, sock), [], 'the agent socket path is nowhere in the root');
  assert.equal(await grepDir(h.rootDir, h.dir + '/agent'), []);

  // Another agent at another path: same key, so the step is cached (the path is not in the key).
  const other = await startAgent('agent-b');
  const again = await h.build(ctx, { ssh: [{ id: 'default', socket: other }] });
  assert.is(again.stepsExecuted, 0);
});

test('a required ssh mount without --ssh fails naming its Dockerfile line; an optional one is skipped', async () => {
  const ctx = await h.context({ Dockerfile: 'FROM busybox\nRUN echo one\nRUN --mount=type=ssh,id=deploy,required=true echo never\n' });
  const err = await h.build(ctx).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(isKilnError(err) && err.code === 'SSH_AGENT_NOT_FOUND', String(err));
  assert.is(isKilnError(err) ? err.loc?.line : undefined, 3);
  assert.match(String((err as Error).message), /deploy/);

  const opt = await h.context({ Dockerfile: 'FROM busybox\nRUN --mount=type=ssh echo "sock=[$SSH_AUTH_SOCK]"\n' });
  const r = await h.build(opt);
  assert.match(output(r.events), /sock=\[\]/);
  assert.ok(r.events.some((e) => e.type === 'warning' && /ssh/.test(e.message)));
});

test.run();
