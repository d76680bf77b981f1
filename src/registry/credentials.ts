/**
 * Registry credentials and settings from two files:
 *   - kiln's own config (`$KILN_CONFIG`, else `$XDG_CONFIG_HOME/kiln/config.json`, else `~/.config/kiln/config.json`):
 *     `{ "auths": { "<registry>": { "auth": base64("user:pass") } }, "insecureRegistries": ["host:port"] }`,
 *     written by `kiln login` with mode 0600 (atomic replace);
 *   - Docker's (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`), read only, so an existing
 *     `docker login` works: `auths` entries with `auth` or `username`/`password`, keys like
 *     `https://index.docker.io/v1/`, `host:port`, `https://host:port/v2/`.
 * kiln's file wins. Docker's credential helpers (`credHelpers` per registry, else `credsStore`) are asked through
 * `docker-credential-<name> get`, as Docker does; a missing or failing helper means no credentials. Identity
 * tokens (`identitytoken`, or a helper's secret for the user `<token>`) are OAuth2 refresh tokens that the
 * token server exchanges (src/registry/auth.ts).
 * Nothing here logs; errors name files, never contents.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../cache/atomic-file.js';
import { KilnError } from '../errors.js';
import { IDENTITY_TOKEN_USER, type CredentialLookup, type Credentials } from './types.js';

export interface ConfigPaths {
  kiln: string;
  docker: string;
}

/** Where the two config files are for this environment. */
export function configPaths(env: NodeJS.ProcessEnv = process.env): ConfigPaths {
  const home = env.HOME || homedir();
  const kiln = env.KILN_CONFIG || join(env.XDG_CONFIG_HOME || join(home, '.config'), 'kiln', 'config.json');
  const docker = join(env.DOCKER_CONFIG || join(home, '.docker'), 'config.json');
  return { kiln, docker };
}

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
}

export interface KilnConfigFile {
  auths?: Record<string, AuthEntry>;
  insecureRegistries?: string[];
  [key: string]: unknown;
}

async function readJson(path: string): Promise<KilnConfigFile | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new KilnError('PRECONDITION', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  try {
    const v = JSON.parse(text);
    return v && typeof v === 'object' && !Array.isArray(v) ? v : {};
  } catch {
    throw new KilnError('INVALID_ARGUMENT', `${path} is not valid JSON`, { hint: 'fix or remove the file' });
  }
}

/** The registry name an `auths` key stands for: `https://index.docker.io/v1/` → `docker.io`, `https://h:5000/v2/` → `h:5000`. */
export function normalizeAuthKey(key: string): string {
  let k = key
    .trim()
    .toLowerCase()
    .replace(/^[a-z]+:\/\//, '');
  k = k.split('/')[0]!;
  if (k === 'index.docker.io' || k === 'registry-1.docker.io' || k === 'registry.hub.docker.com') return 'docker.io';
  return k;
}

function decode(entry: AuthEntry | undefined): Credentials | undefined {
  if (!entry || typeof entry !== 'object') return undefined;
  // `docker login` to a registry with OAuth stores the refresh token it got, not the password.
  if (typeof entry.identitytoken === 'string' && entry.identitytoken) {
    const user = entry.auth ? Buffer.from(entry.auth, 'base64').toString('utf8').split(':')[0] : entry.username;
    return { username: user || IDENTITY_TOKEN_USER, password: '', identityToken: entry.identitytoken };
  }
  if (typeof entry.auth === 'string' && entry.auth) {
    const text = Buffer.from(entry.auth, 'base64').toString('utf8');
    const i = text.indexOf(':');
    if (i > 0) return { username: text.slice(0, i), password: text.slice(i + 1) };
  }
  if (typeof entry.username === 'string' && typeof entry.password === 'string' && entry.username) {
    return { username: entry.username, password: entry.password };
  }
  return undefined;
}

function find(file: KilnConfigFile | undefined, registry: string): Credentials | undefined {
  const want = normalizeAuthKey(registry);
  for (const [k, v] of Object.entries(file?.auths ?? {}))
    if (normalizeAuthKey(k) === want) {
      const c = decode(v);
      if (c) return c;
    }
  return undefined;
}

interface DockerConfigFile extends KilnConfigFile {
  credsStore?: string;
  credHelpers?: Record<string, string>;
}

/** Asks `docker-credential-<helper> get` for `server` (JSON `{ Username, Secret }` on stdout). */
function fromHelper(helper: string, server: string): Promise<Credentials | undefined> {
  if (!/^[A-Za-z0-9_.-]+$/.test(helper)) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const child = execFile(`docker-credential-${helper}`, ['get'], { timeout: 10_000, maxBuffer: 64 * 1024 }, (err, stdout) => {
      if (err) {
        resolve(undefined);
        return;
      }
      try {
        const v = JSON.parse(stdout) as { Username?: string; Secret?: string };
        if (!v.Username || !v.Secret) resolve(undefined);
        else if (v.Username === IDENTITY_TOKEN_USER) resolve({ username: v.Username, password: '', identityToken: v.Secret });
        else resolve({ username: v.Username, password: v.Secret });
      } catch {
        resolve(undefined);
      }
    });
    child.stdin?.end(server);
  });
}

async function fromDocker(file: DockerConfigFile | undefined, registry: string): Promise<Credentials | undefined> {
  if (!file) return undefined;
  const want = normalizeAuthKey(registry);
  const server = want === 'docker.io' ? 'https://index.docker.io/v1/' : want;
  const helper = Object.entries(file.credHelpers ?? {}).find(([k]) => normalizeAuthKey(k) === want)?.[1];
  if (helper) return fromHelper(helper, server);
  return find(file, registry) ?? (file.credsStore ? fromHelper(file.credsStore, server) : undefined);
}

/** A lookup reading both files at each call (a `kiln login` in another shell takes effect at once). */
export function credentialLookup(paths: ConfigPaths = configPaths()): CredentialLookup {
  return async (registry) => find(await readJson(paths.kiln), registry) ?? fromDocker(await readJson(paths.docker), registry);
}

/** `insecureRegistries` from kiln's config file. */
export async function configuredInsecureRegistries(paths: ConfigPaths = configPaths()): Promise<string[]> {
  const list = (await readJson(paths.kiln))?.insecureRegistries;
  return Array.isArray(list) ? list.filter((x): x is string => typeof x === 'string') : [];
}

/** Stores credentials for `registry` in kiln's config (mode 0600), keeping the file's other settings. */
export async function saveCredentials(registry: string, creds: Credentials, paths: ConfigPaths = configPaths()): Promise<string> {
  const file = (await readJson(paths.kiln)) ?? {};
  const auths = { ...(file.auths ?? {}) };
  const key = normalizeAuthKey(registry);
  for (const k of Object.keys(auths)) if (normalizeAuthKey(k) === key) delete auths[k];
  auths[key] = { auth: Buffer.from(`${creds.username}:${creds.password}`).toString('base64') };
  await writeFileAtomic(paths.kiln, JSON.stringify({ ...file, auths }, null, 2) + '\n', { mode: 0o600 });
  return paths.kiln;
}

/** Removes `registry`'s credentials from kiln's config; returns false when there were none. */
export async function removeCredentials(registry: string, paths: ConfigPaths = configPaths()): Promise<boolean> {
  const file = await readJson(paths.kiln);
  if (!file?.auths) return false;
  const key = normalizeAuthKey(registry);
  const auths = { ...file.auths };
  let removed = false;
  for (const k of Object.keys(auths))
    if (normalizeAuthKey(k) === key) {
      delete auths[k];
      removed = true;
    }
  if (removed) await writeFileAtomic(paths.kiln, JSON.stringify({ ...file, auths }, null, 2) + '\n', { mode: 0o600 });
  return removed;
}
