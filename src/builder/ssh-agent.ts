/**
 * `RUN --mount=type=ssh`: a step reaches the `--ssh` agent through a socket of its own, as BuildKit's does: a
 * small proxy listening in the build's private tmp dir (with the mount's mode, uid and gid) that pipes every
 * connection to the agent's socket. The step never sees where the agent lives, and the proxy goes with the step.
 */
import { chmod, chown, lstat } from 'node:fs/promises';
import { createConnection, createServer, type Socket } from 'node:net';
import { KilnError } from '../errors.js';

/** A running proxy; `close()` stops listening and drops open connections. */
export interface AgentForward {
  path: string;
  close(): Promise<void>;
}

/**
 * Listens on `path` and forwards each connection to the agent at `agent`. Throws SSH_AGENT_NOT_FOUND when
 * `agent` is not a socket (a key file: BuildKit loads keys into an agent of its own; kiln asks for an agent).
 */
export async function forwardSshAgent(id: string, agent: string, path: string, perm: { mode: number; uid: number; gid: number }): Promise<AgentForward> {
  const st = await lstat(agent).catch(() => undefined);
  if (!st?.isSocket()) {
    throw new KilnError('SSH_AGENT_NOT_FOUND', `--ssh ${id}: ${agent} is ${st ? 'not a socket' : 'missing'}`, {
      hint: st ? 'start an agent and add the key: eval $(ssh-agent) && ssh-add KEY, then --ssh default' : 'is the agent running? (SSH_AUTH_SOCK)',
    });
  }
  const open = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = createConnection(agent);
    open.add(client).add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  try {
    await chmod(path, perm.mode);
    await chown(path, perm.uid, perm.gid);
  } catch (err) {
    server.close();
    throw err;
  }
  return {
    path,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
}
