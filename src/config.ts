/**
 * Where kiln keeps its state. `--root DIR` wins, then `KILN_ROOT`, then `/var/lib/kiln` for root and
 * `$XDG_DATA_HOME/kiln` (or `~/.local/share/kiln`) for other users.
 */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export function defaultRoot(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  if (env.KILN_ROOT) return resolve(cwd, env.KILN_ROOT);
  if (process.getuid?.() === 0) return '/var/lib/kiln';
  return join(env.XDG_DATA_HOME ?? join(homedir(), '.local', 'share'), 'kiln');
}

/** `cwd` resolves a relative `--root` or KILN_ROOT (a daemon-served build passes its client's). */
export function resolveRoot(flag: string | undefined, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  return flag ? resolve(cwd, flag) : defaultRoot(env, cwd);
}
