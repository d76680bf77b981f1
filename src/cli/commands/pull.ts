/**
 * `kiln pull [--platform P] REF`: a registry image into the store, printed as `docker pull` prints it. Also
 * exports the registry flags (`--tls-ca`, `--insecure-registry`) that push and login share.
 */
import type { Command } from 'commander';
import { KilnError } from '../../errors.js';
import { openRoot } from '../../cache/root.js';
import { familiarize } from '../../image/reference.js';
import { clientOptionsFrom } from '../../registry/client-options.js';
import { createTransferRenderer } from '../progress/transfer.js';
import { pullImage, toRegistryRef } from '../../registry/pull.js';
import type { RegistryClientOptions } from '../../registry/types.js';
import { globalOptions } from '../context.js';

export interface RegistryFlags {
  tlsCa: string[];
  insecureRegistry: string[];
}

const collect = (v: string, acc: string[]): string[] => [...acc, v];

/** Adds `--tls-ca FILE` and `--insecure-registry HOST` (both repeatable) to a command. */
export function withRegistryFlags(cmd: Command): Command {
  return cmd
    .option('--tls-ca <file>', 'trust this CA certificate (PEM) besides the system ones (repeatable)', collect, [] as string[])
    .option('--insecure-registry <host>', 'allow plain HTTP / unverified TLS for this registry (repeatable)', collect, [] as string[]);
}

/** Client options from the shared flags and the config files. */
export function registryOptions(flags: RegistryFlags): Promise<RegistryClientOptions> {
  return clientOptionsFrom({ tlsCaFiles: flags.tlsCa, insecureRegistries: flags.insecureRegistry });
}

export function register(program: Command): void {
  withRegistryFlags(
    program
      .command('pull')
      .description('pull an image from a registry into the store')
      .argument('<ref>', 'image reference (busybox, 127.0.0.1:5000/team/app:1.2, name@sha256:…)')
      .option('--platform <os/arch[/variant]>', 'platform to pull from a multi-platform image (default: this host)')
      .option('-a, --all-platforms', 'pull every platform of a multi-platform image; the tag names its index')
      .option('-q, --quiet', 'print only the image reference'),
  ).action(async (ref: string, opts: RegistryFlags & { platform?: string; quiet?: boolean; allPlatforms?: boolean }, cmd: Command) => {
    if (opts.allPlatforms && opts.platform) throw new KilnError('INVALID_ARGUMENT', '--all-platforms and --platform exclude each other');
    if (opts.allPlatforms && globalOptions(cmd).host) {
      throw new KilnError('INVALID_ARGUMENT', '--all-platforms is not supported with --host', { hint: 'pull on the server with kiln pull --all-platforms' });
    }
    if (globalOptions(cmd).host) return (await import('../remote/entry.js')).remotePullCommand(globalOptions(cmd), ref, opts);
    const rref = toRegistryRef(ref);
    const out = process.stdout;
    const render = createTransferRenderer('pull', out, Boolean(out.isTTY) && !opts.quiet);
    if (!opts.quiet) out.write(`${rref.digest ?? rref.tag}: Pulling from ${rref.repository}\n`);
    const root = await openRoot(globalOptions(cmd).root);
    try {
      const res = await pullImage(root, ref, {
        ...(await registryOptions(opts)),
        platform: opts.platform,
        ...(opts.allPlatforms ? { allPlatforms: true } : {}),
        onProgress: opts.quiet ? undefined : (ev) => render.onEvent(ev),
      });
      render.close();
      if (!opts.quiet) {
        out.write(`Digest: ${res.digest}\n`);
        out.write(
          res.fetched > 0 ? `Status: Downloaded newer image for ${familiarize(res.ref)}\n` : `Status: Image is up to date for ${familiarize(res.ref)}\n`,
        );
      }
      out.write(`${res.ref}\n`);
    } finally {
      render.close();
      await root.close();
    }
  });
}
