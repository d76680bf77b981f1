/** `kiln push REF`: an image of the store to a registry, printed as `docker push` prints it. */
import type { Command } from 'commander';
import { openRoot } from '../../cache/root.js';
import { familiarize } from '../../image/reference.js';
import { createTransferRenderer } from '../progress/transfer.js';
import { pushImage } from '../../registry/push.js';
import { toRegistryRef } from '../../registry/pull.js';
import { globalOptions } from '../context.js';
import { registryOptions, withRegistryFlags, type RegistryFlags } from './pull.js';

export function register(program: Command): void {
  withRegistryFlags(
    program
      .command('push')
      .description('push an image from the store to a registry')
      .argument('<ref>', 'image reference to push (127.0.0.1:5000/team/app:1.2)')
      .option('--from <image>', 'push this local image under <ref> (default: the image tagged <ref>)')
      .option('-q, --quiet', 'print only the digest'),
  ).action(async (ref: string, opts: RegistryFlags & { from?: string; quiet?: boolean }, cmd: Command) => {
    const g = globalOptions(cmd);
    if (g.host) return (await import('../remote/entry.js')).remotePushCommand(g, ref, opts);
    const rref = toRegistryRef(ref);
    // The invocation's own stdout: a push served by the resident builder prints on its client's terminal.
    const out = g.io.stdout;
    const render = createTransferRenderer('push', out, Boolean(out.isTTY) && !opts.quiet);
    // Served by the resident builder: its open store; otherwise the root opened for this command.
    const lease = g.io.builders ? await g.io.builders.acquire(g.root) : undefined;
    const root = lease ? lease.builder.root : await openRoot(g.root);
    const interrupt = g.io.interruptions();
    try {
      await root.images.resolve(opts.from ?? ref);
      if (!opts.quiet) out.write(`The push refers to repository [${familiarize(`${rref.registry}/${rref.repository}`)}]\n`);
      const res = await pushImage(root, ref, {
        ...(await registryOptions(opts)),
        source: opts.from,
        signal: interrupt.signal,
        onProgress: opts.quiet ? undefined : (ev) => render.onEvent(ev),
      });
      render.close();
      out.write(opts.quiet ? `${res.digest}\n` : `${res.tag ?? res.digest}: digest: ${res.digest} size: ${res.size}\n`);
    } finally {
      interrupt.dispose();
      render.close();
      if (lease) await lease.release();
      else await root.close();
    }
  });
}
