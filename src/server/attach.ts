/**
 * `POST /containers/{id}/attach`: the connection is upgraded (HTTP 101) and becomes the container's stdio.
 * Without a TTY, stdout and stderr share it as Docker's multiplexed frames: an 8-byte header
 * `[stream, 0, 0, 0, size (uint32 big-endian)]` then `size` bytes, stream 1 = stdout, 2 = stderr.
 */
import { Writable } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { KilnError } from '../errors.js';
import type { Route } from './router.js';
import type { Query } from './http-util.js';
import type { ServerState } from './context.js';

export interface UpgradeContext {
  req: IncomingMessage;
  socket: Duplex;
  head: Buffer;
  params: Record<string, string>;
  query: Query;
  state: ServerState;
}

export type UpgradeHandler = (ctx: UpgradeContext) => Promise<void>;

/** Encodes one frame of Docker's multiplexed stream. */
export function frame(stream: 0 | 1 | 2, payload: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

/** A Writable that frames everything written to it as `stream` on `socket` (or passes it raw for a TTY). */
export function frameWriter(socket: Duplex, stream: 1 | 2, raw: boolean): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (socket.destroyed) return cb();
      socket.write(raw ? chunk : frame(stream, chunk), () => cb());
    },
  });
}

const attach: UpgradeHandler = async ({ socket, params, query, state }) => {
  const containers = state.backend.containers;
  if (!containers) throw new KilnError('NOT_IMPLEMENTED', 'containers are not available on this server');
  const info = (await containers.inspect(params.id)) as { Config?: { Tty?: boolean } };
  const tty = Boolean(info.Config?.Tty);
  socket.write(
    'HTTP/1.1 101 UPGRADED\r\n' +
      `Content-Type: application/vnd.docker.${tty ? 'raw' : 'multiplexed'}-stream\r\n` +
      'Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n',
  );
  socket.on('error', () => {});
  const wantOut = query.str('stdout') === undefined || query.bool('stdout');
  const wantErr = query.str('stderr') === undefined || query.bool('stderr');
  await containers.attach(params.id, {
    stdout: wantOut ? frameWriter(socket, 1, tty) : undefined,
    stderr: wantErr ? frameWriter(socket, 2, tty) : undefined,
    stdin: query.bool('stdin') ? socket : undefined,
  });
  socket.end();
};

export const upgradeRoutes: Array<Route<UpgradeHandler>> = [{ method: 'POST', pattern: '/containers/{id}/attach', handler: attach }];
