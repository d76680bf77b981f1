/**
 * `kiln commit CONTAINER [REPO[:TAG]] [-c INSTRUCTION]… [-m MESSAGE] [-a AUTHOR] [--pause=false]`: a new image from a
 * container's changes, as `docker commit`; prints the new image ID.
 */
import type { Command } from 'commander';
import { globalOptions } from '../context.js';

export function register(program: Command): void {
  program
    .command('commit')
    .description("create a new image from a container's changes")
    .argument('<container>')
    .argument('[reference]', 'REPO[:TAG] for the new image')
    .option(
      '-c, --change <instruction>',
      'apply a Dockerfile instruction (CMD, ENTRYPOINT, ENV, …); repeatable',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option('-m, --message <text>', 'commit message (the history comment)')
    .option('-a, --author <name>', 'author (e.g. "Jane Doe <jane@example.com>")')
    .option('-p, --pause <bool>', 'pause a running container while committing (default true)', 'true')
    .action(async (ref: string, reference: string | undefined, opts: { change: string[]; message?: string; author?: string; pause: string }, cmd: Command) => {
      const { KilnError } = await import('../../errors.js');
      if (!/^(true|false|1|0)$/.test(opts.pause)) throw new KilnError('INVALID_ARGUMENT', `--pause ${JSON.stringify(opts.pause)}: true or false`);
      const { openRoot } = await import('../../cache/root.js');
      const { createContainerStore } = await import('../../containers/containers.js');
      const { commitContainer, commitReference } = await import('../../containers/commit.js');
      const tag = commitReference(reference, undefined);
      const root = await openRoot(globalOptions(cmd).root);
      try {
        const rec = await createContainerStore({ root: root.root }).get(ref);
        const r = await commitContainer(root, rec, {
          ref: tag,
          changes: opts.change,
          comment: opts.message,
          author: opts.author,
          pause: opts.pause === 'true' || opts.pause === '1',
        });
        process.stdout.write(`${r.id}\n`);
      } finally {
        await root.close();
      }
    });
}
