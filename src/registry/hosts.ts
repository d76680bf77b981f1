/**
 * Registry host rules, as Docker applies them: `docker.io` is served at `registry-1.docker.io`; TLS always,
 * except that loopback registries and those listed insecure may fall back to plain HTTP (and the listed ones may
 * use unverified TLS). Loopback is 127.0.0.0/8, ::1 and `localhost`.
 */
import { isIP } from 'node:net';

/** The host[:port] that serves the API for a registry name. */
export function apiHost(registry: string): string {
  return registry === 'docker.io' || registry === 'index.docker.io' ? 'registry-1.docker.io' : registry;
}

/** Splits `host:port` / `[v6]:port` and returns the host part without brackets. */
export function hostname(hostport: string): string {
  if (hostport.startsWith('[')) return hostport.slice(1, hostport.indexOf(']'));
  const i = hostport.lastIndexOf(':');
  return i > 0 && hostport.indexOf(':') === i ? hostport.slice(0, i) : hostport;
}

export function isLoopback(hostport: string): boolean {
  const h = hostname(hostport).toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || h === '0:0:0:0:0:0:0:1';
  return false;
}

/** True when `registry` matches an entry of the insecure list (exact host[:port], or host alone for any port). */
export function isListedInsecure(registry: string, insecure: readonly string[] = []): boolean {
  const r = registry.toLowerCase();
  return insecure.some((e) => {
    const x = e
      .toLowerCase()
      .replace(/^https?:\/\//, '')
      .replace(/\/+$/, '');
    return x === r || x === hostname(r);
  });
}

/** Plain HTTP is acceptable for loopback registries and listed ones. */
export function allowsPlainHttp(registry: string, insecure: readonly string[] = []): boolean {
  return isLoopback(registry) || isListedInsecure(registry, insecure);
}

/** Errors from an https attempt that mean "this server does not speak TLS", as opposed to "its certificate is bad". */
export function isNotTlsError(err: unknown): boolean {
  const e = err as NodeJS.ErrnoException;
  return (
    e?.code === 'EPROTO' ||
    e?.code === 'ERR_SSL_WRONG_VERSION_NUMBER' ||
    e?.code === 'ECONNRESET' ||
    /wrong version number|packet length too long|unknown protocol/i.test(e?.message ?? '')
  );
}

/** Certificate verification failures (self-signed, unknown CA, name mismatch, expired). */
export function isCertificateError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code ?? '';
  return /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS_CERT_ALTNAME_INVALID|UNABLE_TO_GET_ISSUER/.test(code);
}
