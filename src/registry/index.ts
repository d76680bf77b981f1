/**
 * The registry client's public surface, for the CLI, the builder (FROM pulls, `build --push`) and the server.
 *
 *   const opts = await clientOptionsFrom({ tlsCaFiles, insecureRegistries });   // config files + flags
 *   await pullImage(root, 'busybox', { ...opts, platform: 'linux/arm64', onProgress });
 *   await pushImage(root, '127.0.0.1:5000/team/app:1', { ...opts, source: 'app:dev', onProgress });
 */
export { pullImage, toRegistryRef, type PullOptions } from './pull.js';
export { pushImage, type PushOptions } from './push.js';
export { createRegistryClient, type RegistryClient } from './client.js';
export { clientOptionsFrom, type ClientOptionInputs } from './client-options.js';
export { configPaths, credentialLookup, saveCredentials, removeCredentials, normalizeAuthKey } from './credentials.js';
export type {
  Credentials,
  CredentialLookup,
  Fetcher,
  Pusher,
  PullResult,
  PushResult,
  RegistryClientOptions,
  RegistryRef,
  Resolver,
  TransferEvent,
  ProgressFn,
} from './types.js';
