/** `kiln export CONTAINER [-o FILE]`: the container's filesystem as a tar archive, as `docker export`. */
import { createWriteStream } from 'node:fs';
import type { Command } from 'commander';
import { globalOptions } from '../context.js';

export function register(program: Command): void {
  program
    .command('export')
    .description("export a container's filesystem as a tar archive")
    .argument('<container>')
    .option('-o, --output <file>', 'write to a file instead of stdout')
    .action(async (ref: string, opts: { output?: string }, cmd: Command) => {
      const { KilnError, fromSystemError } = await import('../../errors.js');
      if (!opts.output && process.stdout.isTTY) {
        throw new KilnError('INVALID_ARGUMENT', 'cowardly refusing to write a tar archive to a terminal', { hint: 'use -o FILE or redirect' });
      }
      const root = globalOptions(cmd).root;
      const { createContainerStore } = await import('../../containers/containers.js');
      const { exportContainer } = await import('../../containers/container-fs.js');
      const rec = await createContainerStore({ root }).get(ref);
      await exportContainer(root, rec, () => {
        if (!opts.output) return process.stdout;
        const out = createWriteStream(opts.output);
        out.on('error', () => {}); // reported by the pipeline, named below
        return out;
      }).catch((err: unknown) => {
        throw fromSystemError(err, opts.output ?? 'stdout') ?? err;
      });
    });
}
