/**
 * Registry credentials as the docker CLI sends them: `X-Registry-Auth` (one AuthConfig, for push and pull) and
 * `X-Registry-Config` (a map registry → AuthConfig, for the pulls of a build), both base64url JSON. They are handed
 * to the registry client and never logged; `RegistryCredentials` has no toJSON that would reveal them.
 */
import type { IncomingMessage } from 'node:http';
import { KilnError } from '../errors.js';

export interface AuthConfig {
  username?: string;
  password?: string;
  auth?: string;
  identitytoken?: string;
  registrytoken?: string;
  serveraddress?: string;
}

/** Credentials keyed by registry host (`index.docker.io`, `127.0.0.1:5000`). */
export type RegistryCredentials = Record<string, AuthConfig>;

const MAX_HEADER_JSON = 64 * 1024;

function decode(value: string, name: string): unknown {
  if (value.length > MAX_HEADER_JSON) throw new KilnError('PAYLOAD_TOO_LARGE', `${name} header is too large`);
  // The CLI uses URL-safe base64; Buffer accepts both alphabets.
  const text = Buffer.from(value, 'base64').toString('utf8').trim();
  if (text === '' || text === 'null') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    // Never echo the value: it is a credential.
    throw new KilnError('INVALID_ARGUMENT', `${name} header is not base64-encoded JSON`);
  }
}

function normalize(a: unknown): AuthConfig | undefined {
  if (!a || typeof a !== 'object') return undefined;
  const o = a as Record<string, unknown>;
  const out: AuthConfig = {};
  for (const k of ['username', 'password', 'auth', 'identitytoken', 'registrytoken', 'serveraddress'] as const) {
    if (typeof o[k] === 'string' && o[k] !== '') out[k] = o[k] as string;
  }
  // `auth` is base64("user:pass"), as in config.json.
  if (out.auth && !out.username) {
    const plain = Buffer.from(out.auth, 'base64').toString('utf8');
    const i = plain.indexOf(':');
    if (i > 0) {
      out.username = plain.slice(0, i);
      out.password = plain.slice(i + 1);
    }
  }
  return Object.keys(out).length ? out : undefined;
}

/** Strips a scheme and path: `https://index.docker.io/v1/` → `index.docker.io`. */
export function registryHost(address: string): string {
  return address.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '');
}

/** The one AuthConfig of `X-Registry-Auth`, or undefined when absent or empty (`e30=` is `{}`). */
export function readRegistryAuth(req: IncomingMessage): AuthConfig | undefined {
  const h = req.headers['x-registry-auth'];
  if (typeof h !== 'string' || h === '') return undefined;
  return normalize(decode(h, 'X-Registry-Auth'));
}

/** The map of `X-Registry-Config` (used by builds for FROM pulls). */
export function readRegistryConfig(req: IncomingMessage): RegistryCredentials {
  const h = req.headers['x-registry-config'];
  if (typeof h !== 'string' || h === '') return {};
  const v = decode(h, 'X-Registry-Config');
  const out: RegistryCredentials = {};
  if (v && typeof v === 'object') {
    for (const [k, a] of Object.entries(v as Record<string, unknown>)) {
      const n = normalize(a);
      if (n) out[registryHost(k)] = n;
    }
  }
  return out;
}
