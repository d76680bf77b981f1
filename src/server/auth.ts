/**
 * Who may talk to the server. A unix socket is guarded by its file mode (as dockerd's); TCP on a loopback address
 * may run open; TCP anywhere else needs TLS with client certificates or a bearer token, or the server refuses to
 * start. With a token configured, every TCP request without it gets 401 before any routing or work happens.
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import { isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { KilnError } from '../errors.js';

/** True for 127.0.0.0/8, ::1, and IPv4-mapped loopback; `localhost` counts too. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || /^::ffff:127\./i.test(h);
  return false;
}

export interface ListenSecurity {
  host: string;
  tls: boolean;
  token: boolean;
}

/** Refuses (PRECONDITION) to listen on a non-loopback TCP address with neither client-certificate TLS nor a token. */
export function checkListenSecurity(l: ListenSecurity): void {
  if (isLoopback(l.host) || l.tls || l.token) return;
  throw new KilnError('PRECONDITION', `refusing to listen on tcp://${l.host} without authentication`, {
    hint: 'use --tlscacert/--tlscert/--tlskey (client certificates) or --token-file, or listen on 127.0.0.1',
  });
}

/** Compares in constant time (hashes first, so lengths do not leak either). */
function sameSecret(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

/**
 * Checks `Authorization: Bearer <token>`; throws UNAUTHORIZED otherwise. The docker CLI sends it when the client's
 * ~/.docker/config.json has `"HttpHeaders": {"Authorization": "Bearer …"}`.
 */
export function checkBearer(req: IncomingMessage, token: string): void {
  const h = req.headers.authorization ?? '';
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  if (!m || !sameSecret(m[1], token)) {
    throw new KilnError('UNAUTHORIZED', 'authentication required', {
      hint: 'send "Authorization: Bearer <token>" (docker: set HttpHeaders in ~/.docker/config.json)',
    });
  }
}
