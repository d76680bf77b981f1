/** `kiln volume create|ls|rm|inspect`: named volumes under <root>/volumes, as Docker's local driver. */
import type { Command } from 'commander';
import { globalOptions } from '../context.js';

async function stores(root: string) {
  const { createVolumeStore } = await import('../../containers/volumes.js');
  const { createContainerStore } = await import('../../containers/containers.js');
  const containers = createContainerStore({ root });
  const inUse = async (name: string) => (await containers.list()).filter((c) => c.volumes.some((v) => v.name === name)).map((c) => c.id.slice(0, 12));
  return createVolumeStore({ root, inUse });
}

export function register(program: Command): void {
  const volume = program.command('volume').description('manage volumes');
  volume
    .command('create')
    .description('create a volume')
    .argument('[name]')
    .option('-l, --label <k=v>', 'set metadata (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .action(async (name: string | undefined, opts: { label: string[] }, cmd: Command) => {
      const labels = Object.fromEntries(opts.label.map((l) => [l.split('=')[0]!, l.split('=').slice(1).join('=')]));
      const v = await (await stores(globalOptions(cmd).root)).create(name, { labels });
      process.stdout.write(`${v.name}\n`);
    });
  volume
    .command('ls')
    .alias('list')
    .description('list volumes')
    .option('-q, --quiet', 'only display volume names')
    .action(async (opts: { quiet?: boolean }, cmd: Command) => {
      const vols = await (await stores(globalOptions(cmd).root)).list();
      if (opts.quiet) {
        process.stdout.write(vols.map((v) => `${v.name}\n`).join(''));
        return;
      }
      process.stdout.write(['DRIVER    VOLUME NAME', ...vols.map((v) => `${v.driver.padEnd(10)}${v.name}`)].join('\n') + '\n');
    });
  volume
    .command('rm')
    .alias('remove')
    .description('remove one or more volumes')
    .argument('<names...>')
    .option('-f, --force', 'remove even if in use')
    .action(async (names: string[], opts: { force?: boolean }, cmd: Command) => {
      const s = await stores(globalOptions(cmd).root);
      for (const n of names) {
        await s.remove(n, { force: opts.force });
        process.stdout.write(`${n}\n`);
      }
    });
  volume
    .command('inspect')
    .description('display detailed information on volumes')
    .argument('<names...>')
    .action(async (names: string[], _o: unknown, cmd: Command) => {
      const s = await stores(globalOptions(cmd).root);
      const out = [];
      for (const n of names) {
        const v = await s.inspect(n);
        out.push({ CreatedAt: v.createdAt, Driver: v.driver, Labels: v.labels, Mountpoint: v.mountpoint, Name: v.name, Options: null, Scope: 'local' });
      }
      process.stdout.write(JSON.stringify(out, null, 4) + '\n');
    });
}
