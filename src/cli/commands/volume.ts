/**
 * `kiln volume create|ls|inspect|rm|prune`: volumes under <root>/volumes, as Docker's local driver and with the
 * server's rules (one store, one filter grammar, one inspect shape), so `kiln volume` and `docker volume` against
 * `kiln serve` agree.
 */
import type { Command } from 'commander';
import { KilnError } from '../../errors.js';
import type { Filters } from '../../server/filters.js';
import { globalOptions } from '../context.js';

const collect = (v: string, acc: string[]) => [...acc, v];

/** `k=v` flags as a map (`k` alone: empty value), as docker's --label and --opt. */
function keyValues(list: string[], flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list) {
    const i = kv.indexOf('=');
    const k = i < 0 ? kv : kv.slice(0, i);
    if (!k) throw new KilnError('INVALID_ARGUMENT', `invalid ${flag} ${JSON.stringify(kv)}: KEY=VALUE expected`);
    out[k] = i < 0 ? '' : kv.slice(i + 1);
  }
  return out;
}

/** `--filter key=value` flags as the server's Filters map. */
export function filterFlags(list: string[]): Filters {
  const f: Filters = new Map();
  for (const kv of list) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new KilnError('INVALID_ARGUMENT', `invalid filter ${JSON.stringify(kv)}: KEY=VALUE expected`);
    const k = kv.slice(0, i);
    f.set(k, [...(f.get(k) ?? []), kv.slice(i + 1)]);
  }
  return f;
}

async function backend(cmd: Command) {
  const { createVolumeBackend } = await import('../../server/volume-backend.js');
  return createVolumeBackend(globalOptions(cmd).root);
}

export function register(program: Command): void {
  const volume = program.command('volume').description('manage volumes');
  volume
    .command('create')
    .description('create a volume')
    .argument('[name]')
    .option('-d, --driver <name>', 'volume driver (only local)', 'local')
    .option('-o, --opt <k=v>', 'driver option: type=tmpfs|none, device=…, o=… (repeatable)', collect, [] as string[])
    .option('-l, --label <k=v>', 'set metadata (repeatable)', collect, [] as string[])
    .action(async (name: string | undefined, opts: { driver: string; opt: string[]; label: string[] }, cmd: Command) => {
      const v = await (
        await backend(cmd)
      ).create({ Name: name, Driver: opts.driver, DriverOpts: keyValues(opts.opt, '--opt'), Labels: keyValues(opts.label, '--label') });
      process.stdout.write(`${v.Name}\n`);
    });
  volume
    .command('ls')
    .alias('list')
    .description('list volumes')
    .option('-q, --quiet', 'only display volume names')
    .option('-f, --filter <k=v>', 'dangling=true|false, driver=, label=KEY[=VALUE], name= (repeatable)', collect, [] as string[])
    .option('--format <format>', 'json: one JSON object a line')
    .action(async (opts: { quiet?: boolean; filter: string[]; format?: string }, cmd: Command) => {
      if (opts.format !== undefined && opts.format !== 'json')
        throw new KilnError('INVALID_ARGUMENT', `--format ${JSON.stringify(opts.format)}: only json is supported`);
      const vols = await (await backend(cmd)).list({ filters: filterFlags(opts.filter) });
      if (opts.quiet) process.stdout.write(vols.map((v) => `${v.Name}\n`).join(''));
      else if (opts.format === 'json') {
        const labels = (l: Record<string, string> | null) =>
          Object.entries(l ?? {})
            .map(([k, v]) => `${k}=${v}`)
            .join(',');
        process.stdout.write(
          vols
            .map((v) => `${JSON.stringify({ Driver: v.Driver, Labels: labels(v.Labels), Mountpoint: v.Mountpoint, Name: v.Name, Scope: v.Scope })}\n`)
            .join(''),
        );
      } else process.stdout.write(['DRIVER    VOLUME NAME', ...vols.map((v) => `${v.Driver.padEnd(10)}${v.Name}`)].join('\n') + '\n');
    });
  volume
    .command('rm')
    .alias('remove')
    .description('remove one or more volumes (never one a container uses)')
    .argument('<names...>')
    .option('-f, --force', 'no error for a volume that does not exist')
    .action(async (names: string[], opts: { force?: boolean }, cmd: Command) => {
      const b = await backend(cmd);
      let failed: unknown;
      for (const n of names) {
        // As docker: go on with the others, fail at the end.
        try {
          await b.remove(n, { force: opts.force });
          process.stdout.write(`${n}\n`);
        } catch (err) {
          if (failed) process.stderr.write(`error: ${(failed as Error).message}\n`);
          failed = err;
        }
      }
      if (failed) throw failed;
    });
  volume
    .command('inspect')
    .description('display detailed information on volumes')
    .argument('<names...>')
    .action(async (names: string[], _o: unknown, cmd: Command) => {
      const b = await backend(cmd);
      const out = [];
      for (const n of names) out.push(await b.inspect(n));
      process.stdout.write(JSON.stringify(out, null, 4) + '\n');
    });
  volume
    .command('prune')
    .description('remove unused anonymous volumes (with -a, every unused volume)')
    .option('-a, --all', 'remove unused named volumes too')
    .option('--filter <k=v>', 'label=KEY[=VALUE], label!=KEY[=VALUE] (repeatable)', collect, [] as string[])
    .option('-f, --force', 'do not prompt (kiln never prompts; accepted for Docker habits)')
    .action(async (opts: { all?: boolean; filter: string[] }, cmd: Command) => {
      const filters = filterFlags(opts.filter);
      if (opts.all) filters.set('all', ['true']);
      const r = await (await backend(cmd)).prune({ filters, onlyAnonymous: true });
      const { humanSize } = await import('../human-units.js');
      process.stdout.write(
        (r.VolumesDeleted.length ? `Deleted Volumes:\n${r.VolumesDeleted.map((n) => `${n}\n`).join('')}\n` : '') +
          `Total reclaimed space: ${humanSize(r.SpaceReclaimed)}\n`,
      );
    });
}
