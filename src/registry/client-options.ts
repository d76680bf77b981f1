/**
 * Client options as the CLI and the server build them: credentials from kiln's and Docker's config files,
 * insecure registries from flags plus kiln's config file, and extra CAs read from `--tls-ca` files.
 */
import { readFile } from 'node:fs/promises';
import { KilnError } from '../errors.js';
import { configPaths, configuredInsecureRegistries, credentialLookup, type ConfigPaths } from './credentials.js';
import type { RegistryClientOptions } from './types.js';

export interface ClientOptionInputs {
  /** PEM files to trust besides the system CAs. */
  tlsCaFiles?: string[];
  /** Registries that may use plain HTTP or unverified TLS. */
  insecureRegistries?: string[];
  paths?: ConfigPaths;
}

/** Reads the CA files and config; throws NOT_FOUND / INVALID_ARGUMENT naming a bad CA file. */
export async function clientOptionsFrom(inputs: ClientOptionInputs = {}): Promise<RegistryClientOptions> {
  const paths = inputs.paths ?? configPaths();
  const tlsCa: string[] = [];
  for (const f of inputs.tlsCaFiles ?? []) {
    let pem: string;
    try {
      pem = await readFile(f, 'utf8');
    } catch {
      throw new KilnError('NOT_FOUND', `--tls-ca ${f}: cannot read the file`);
    }
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new KilnError('INVALID_ARGUMENT', `--tls-ca ${f}: not a PEM certificate`);
    tlsCa.push(pem);
  }
  return {
    tlsCa,
    insecureRegistries: [...(inputs.insecureRegistries ?? []), ...(await configuredInsecureRegistries(paths))],
    credentials: credentialLookup(paths),
  };
}

/**
 * Fills what the caller left out from the config files, so a user's `kiln login` / `docker login` and configured
 * insecure registries apply to library pulls and pushes too (the builder's FROM, the server), as Docker does.
 * Pass `credentials: async () => undefined` for explicitly anonymous access.
 */
export async function withConfigDefaults<T extends RegistryClientOptions>(opts: T, paths: ConfigPaths = configPaths()): Promise<T> {
  return {
    ...opts,
    credentials: opts.credentials ?? credentialLookup(paths),
    insecureRegistries: opts.insecureRegistries ?? (await configuredInsecureRegistries(paths)),
  };
}
