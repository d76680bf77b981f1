/**
 * `docker exec` through the server: `POST /containers/{id}/exec` registers the process, `POST /exec/{id}/start`
 * runs it (an upgrade, as attach: multiplexed 8-byte-header frames; or detached without one), and
 * `GET /exec/{id}/json` gives the exit code, which the docker CLI asks for once the output has ended.
 */
import type { Duplex } from 'node:stream';
import { KilnError } from '../../errors.js';
import type { Handler } from '../context.js';
import type { Route } from '../router.js';
import type { ContainerBackend, ExecCreate } from '../backend.js';
import { readJsonBody, sendJson } from '../http-util.js';
import { frame, frameWriter, type UpgradeHandler } from '../attach.js';
import { terminalSize } from './containers.js';
import { consoleSizeOf } from '../host-config.js';

const MAX_UPGRADE_BODY = 64 * 1024;

function execs(backend: { containers?: ContainerBackend }): Required<Pick<ContainerBackend, 'execCreate' | 'execStart' | 'execInspect'>> {
  const c = backend.containers;
  if (!c?.execCreate || !c.execStart || !c.execInspect) throw new KilnError('NOT_IMPLEMENTED', 'exec is not available on this server');
  return { execCreate: c.execCreate.bind(c), execStart: c.execStart.bind(c), execInspect: c.execInspect.bind(c) };
}

const create: Handler = async ({ req, res, state, params }) => {
  const spec = await readJsonBody<ExecCreate>(req, state.limits.maxJsonBytes);
  if (!spec || typeof spec !== 'object') throw new KilnError('INVALID_ARGUMENT', 'a JSON exec config is required');
  const id = await execs(state.backend).execCreate(params.id, spec);
  sendJson(res, 201, { Id: id });
};

/** Without an upgrade: only a detached start (`docker exec -d`) makes sense; it answers once the process ended. */
const start: Handler = async ({ req, res, state, params }) => {
  const body = await readJsonBody<{ Detach?: boolean; Tty?: boolean }>(req, state.limits.maxJsonBytes);
  const e = execs(state.backend);
  if (!body?.Detach)
    throw new KilnError('INVALID_ARGUMENT', 'an attached exec start needs a connection upgrade', { hint: 'send Upgrade: tcp, or Detach: true' });
  await e.execInspect(params.id);
  // `docker exec -d` returns at once; the process runs on (and is not killed when this client leaves).
  void e.execStart(params.id, {}, {}).catch(() => {});
  res.writeHead(200).end();
};

const inspect: Handler = async ({ res, state, params }) => {
  sendJson(res, 200, await execs(state.backend).execInspect(params.id));
};

const resize: Handler = async ({ res, state, params, query }) => {
  const [rows, cols] = terminalSize(query.int('h'), query.int('w'));
  await state.backend.containers?.execResize?.(params.id, rows, cols);
  res.writeHead(200).end();
};

/** Reads a Content-Length body that arrived with an upgrade request (in `head`, then on the socket). */
async function upgradeBody(socket: Duplex, head: Buffer, length: number): Promise<{ body: Buffer; rest: Buffer }> {
  if (length > MAX_UPGRADE_BODY) throw new KilnError('INVALID_ARGUMENT', `exec start body of ${length} bytes is too large`);
  let buf = head;
  while (buf.length < length) {
    const chunk = await new Promise<Buffer | null>((resolve) => {
      const onData = (d: Buffer) => {
        done();
        resolve(d);
      };
      const onEnd = () => {
        done();
        resolve(null);
      };
      const done = () => {
        socket.off('data', onData);
        socket.off('end', onEnd);
        socket.off('close', onEnd);
        socket.pause();
      };
      socket.on('data', onData);
      socket.once('end', onEnd);
      socket.once('close', onEnd);
      socket.resume();
    });
    if (!chunk) throw new KilnError('INVALID_ARGUMENT', 'exec start body ended early');
    buf = Buffer.concat([buf, chunk]);
  }
  return { body: buf.subarray(0, length), rest: buf.subarray(length) };
}

const startAttached: UpgradeHandler = async ({ req, socket, head, params, state }) => {
  const e = execs(state.backend);
  const len = Number(req.headers['content-length'] ?? 0);
  const { body, rest } = await upgradeBody(socket, head, Number.isFinite(len) && len > 0 ? len : 0);
  let opts: { Detach?: boolean; Tty?: boolean; ConsoleSize?: unknown } = {};
  if (body.length) {
    try {
      opts = JSON.parse(body.toString('utf8')) ?? {};
    } catch {
      throw new KilnError('INVALID_ARGUMENT', 'exec start body is not JSON');
    }
  }
  const info = await e.execInspect(params.id);
  // With a terminal the output is one raw stream (stdout and stderr are the same terminal), as dockerd sends it.
  const tty = info.ProcessConfig.tty;
  socket.write(
    `HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.${tty ? 'raw' : 'multiplexed'}-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`,
  );
  if (rest.length) socket.unshift(rest);
  // The client hanging up kills the process, as dockerd does for an attached exec.
  const abort = new AbortController();
  socket.once('close', () => abort.abort());
  try {
    await e.execStart(
      params.id,
      {
        stdout: info.OpenStdout ? frameWriter(socket, 1, tty) : undefined,
        stderr: info.OpenStderr ? frameWriter(socket, 2, tty) : undefined,
        stdin: info.OpenStdin ? socket : undefined,
      },
      { signal: abort.signal, consoleSize: consoleSizeOf(opts.ConsoleSize) },
    );
  } catch (err) {
    // Headers are gone: the error goes to the client as stderr output, and ExitCode says the rest.
    if (!socket.destroyed) socket.write(tty ? `${(err as Error).message}\r\n` : frame(2, Buffer.from(`${(err as Error).message}\n`)));
  }
  socket.end();
};

export const execRoutes: Array<Route<Handler>> = [
  { method: 'POST', pattern: '/containers/{id}/exec', handler: create },
  { method: 'POST', pattern: '/exec/{id}/start', handler: start },
  { method: 'GET', pattern: '/exec/{id}/json', handler: inspect },
  { method: 'POST', pattern: '/exec/{id}/resize', handler: resize },
];

export const execUpgradeRoutes: Array<Route<UpgradeHandler>> = [{ method: 'POST', pattern: '/exec/{id}/start', handler: startAttached }];
