/** `kiln du`: space used by kind (images, layers, build cache, leased, unreferenced, snapshots); `--format json`. */
import type { Command } from 'commander';
import { diskUsage } from '../../cache/disk-usage.js';
import { openRoot } from '../../cache/root.js';
import { globalOptions } from '../context.js';
import { humanSize, table } from '../human-units.js';

const LABEL: Record<string, string> = {
  images: 'Images (manifests, configs)',
  layers: 'Layers',
  'build-cache': 'Build cache',
  leased: 'In use by running builds',
  unreferenced: 'Unreferenced',
  snapshots: 'Snapshots (unpacked)',
};

export function register(program: Command): void {
  program
    .command('du')
    .description('show disk space used by the store, by kind')
    .option('--format <format>', 'table or json')
    .action(async (opts: { format?: string }, cmd: Command) => {
      const root = await openRoot(globalOptions(cmd).root);
      try {
        const rows = await diskUsage(root);
        if (opts.format === 'json') {
          for (const r of rows) process.stdout.write(`${JSON.stringify({ Type: r.kind, Count: r.count, Size: r.bytes, Reclaimable: r.reclaimable })}\n`);
          return;
        }
        const lines = [['TYPE', 'COUNT', 'SIZE', 'RECLAIMABLE']];
        for (const r of rows) lines.push([LABEL[r.kind]!, String(r.count), humanSize(r.bytes), humanSize(r.reclaimable)]);
        const total = rows.reduce((n, r) => n + r.bytes, 0);
        lines.push(['Total', '', humanSize(total), humanSize(rows.reduce((n, r) => n + r.reclaimable, 0))]);
        process.stdout.write(table(lines));
      } finally {
        await root.close();
      }
    });
}
