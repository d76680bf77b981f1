/** `kiln logout [REGISTRY]`: removes the registry's credentials from kiln's config file (Docker's is never written). */
import type { Command } from 'commander';
import { normalizeAuthKey, removeCredentials } from '../../registry/credentials.js';

export function register(program: Command): void {
  program
    .command('logout')
    .description('remove stored credentials for a registry')
    .argument('[registry]', 'registry host[:port]', 'docker.io')
    .action(async (registryArg: string) => {
      const registry = normalizeAuthKey(registryArg);
      if (await removeCredentials(registry)) process.stdout.write(`Removing login credentials for ${registry}\n`);
      else process.stdout.write(`Not logged in to ${registry}\n`);
    });
}
