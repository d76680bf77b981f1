/**
 * `kiln login [-u USER] [--password-stdin] [REGISTRY]`: checks the credentials against the registry (its auth
 * challenge: Basic, or a token from the Bearer realm) and stores them in kiln's config file (mode 0600). The
 * password comes from stdin, a hidden prompt on a terminal, or `-p` (with a warning, as Docker gives).
 */
import type { Command } from 'commander';
import { createInterface } from 'node:readline';
import { KilnError } from '../../errors.js';
import { createRegistryClient } from '../../registry/client.js';
import { normalizeAuthKey, saveCredentials } from '../../registry/credentials.js';
import { registryOptions, withRegistryFlags, type RegistryFlags } from './pull.js';

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  let s = '';
  for await (const chunk of stream) s += chunk;
  return s;
}

/** Asks on the terminal; with `hidden`, echoes nothing (a password). */
function ask(question: string, hidden: boolean): Promise<string> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    if (hidden)
      (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = (s: string) => {
        if (s.startsWith(question)) process.stderr.write(question);
      };
    rl.question(question, (answer) => {
      rl.close();
      if (hidden) process.stderr.write('\n');
      resolve(answer);
    });
  });
}

export function register(program: Command): void {
  withRegistryFlags(
    program
      .command('login')
      .description("log in to a registry (credentials stored in kiln's config file, mode 0600)")
      .argument('[registry]', 'registry host[:port]', 'docker.io')
      .option('-u, --username <user>', 'user name')
      .option('-p, --password <password>', 'password (insecure: visible in the process list; prefer --password-stdin)')
      .option('--password-stdin', 'read the password from stdin'),
  ).action(async (registryArg: string, opts: RegistryFlags & { username?: string; password?: string; passwordStdin?: boolean }) => {
    const registry = normalizeAuthKey(registryArg);
    let password = opts.password;
    if (password !== undefined) process.stderr.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
    if (opts.passwordStdin) {
      if (password !== undefined) throw new KilnError('INVALID_ARGUMENT', '--password and --password-stdin are mutually exclusive');
      if (!opts.username) throw new KilnError('INVALID_ARGUMENT', 'must provide --username with --password-stdin');
      password = (await readAll(process.stdin)).replace(/\r?\n$/, '');
    }
    let username = opts.username;
    if (username === undefined || password === undefined) {
      if (!process.stdin.isTTY) throw new KilnError('INVALID_ARGUMENT', 'no terminal to ask for credentials', { hint: 'use -u USER --password-stdin' });
      username ??= (await ask('Username: ', false)).trim();
      password ??= await ask('Password: ', true);
    }
    if (!username || !password) throw new KilnError('INVALID_ARGUMENT', 'user name and password must not be empty');
    const creds = { username, password };
    const client = createRegistryClient({ ...(await registryOptions(opts)), credentials: async () => creds });
    try {
      await client.ping(registry);
    } finally {
      client.close();
    }
    await saveCredentials(registry, creds);
    process.stdout.write('Login Succeeded\n');
  });
}
