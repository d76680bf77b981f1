/**
 * `kiln prune [--all] [--keep-storage SIZE] [--filter until=24h]`: removes dangling images, every blob that
 * no tag, running build (lease) or GC root (the build cache) reaches, and the unpacked snapshots that no
 * remaining image, build-cache record, running build or container needs. `--all` also drops the whole build cache;
 * `--keep-storage` drops build cache entries oldest first until the store fits; `until=` limits removal to
 * things older than the duration. See src/cache/gc.ts for the roots. Build records beyond their retention
 * (KILN_HISTORY_MAX_RECORDS / _AGE / _SIZE, default 50 / 48h / 1g) go too.
 */
import type { Command } from 'commander';
import { collectGarbage } from '../../cache/gc.js';
import { imagesInUse } from './rmi.js';
import { openRoot } from '../../cache/root.js';
import { KilnError } from '../../errors.js';
import { globalOptions } from '../context.js';
import { humanSize, parseDuration, parseSize } from '../human-units.js';

export function register(program: Command): void {
  program
    .command('prune')
    .description('remove dangling images, unreferenced blobs and snapshots, and (with --all) the build cache')
    .option('-a, --all', 'also remove the whole build cache')
    .option('--keep-storage <size>', 'drop build cache (oldest first) until the store holds at most SIZE')
    .option('--filter <filter>', 'until=DURATION: only what is older (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--min-age <duration>', 'keep unreferenced blobs and snapshots younger than this (protects writers without a lease)', '10s')
    .option('--dry-run', 'show what would be removed')
    .option('-f, --force', 'do not prompt (kiln never prompts; accepted for Docker habits)')
    .action(async (opts: { all?: boolean; keepStorage?: string; filter: string[]; minAge: string; dryRun?: boolean }, cmd: Command) => {
      let until: Date | undefined;
      for (const f of opts.filter) {
        const m = /^until=(.+)$/.exec(f);
        if (!m) throw new KilnError('INVALID_ARGUMENT', `unsupported filter "${f}"`, { hint: 'supported: --filter until=24h' });
        const t = Date.parse(m[1]!);
        until = new Date(Number.isNaN(t) || /^\d+[smhd]/.test(m[1]!) ? Date.now() - parseDuration(m[1]!) : t);
      }
      const keepStorage = opts.keepStorage !== undefined ? parseSize(opts.keepStorage) : undefined;
      const g = globalOptions(cmd);
      const { applyRetention, recordsToRemove, retentionPolicy } = await import('../../history/retention.js');
      const policy = retentionPolicy(g.io.env);
      const root = await openRoot(g.root);
      try {
        const r = await collectGarbage(root, {
          removeDangling: true,
          all: opts.all,
          until,
          keepStorage,
          minAgeMs: parseDuration(opts.minAge),
          snapshotGraceMs: parseDuration(opts.minAge),
          dryRun: opts.dryRun,
          inUseImageIds: await imagesInUse(root.root),
        });
        const verb = opts.dryRun ? 'Would delete' : 'Deleted';
        if (r.removedImages.length > 0) {
          process.stdout.write(`${verb} Images:\n${r.removedImages.map((d) => `deleted: ${d}\n`).join('')}\n`);
        }
        if (r.removedRoots.length > 0) process.stdout.write(`${verb} build cache entries: ${r.removedRoots.length}\n`);
        if (r.removedBlobs.length > 0) process.stdout.write(`${verb} blobs: ${r.removedBlobs.length}\n`);
        if (r.removedSnapshots.length > 0) process.stdout.write(`${verb} snapshots: ${r.removedSnapshots.length} (${humanSize(r.snapshotBytes)})\n`);
        const records = opts.dryRun
          ? recordsToRemove(await (await import('../../history/store.js')).listRecords(root.root), policy).map((r) => r.id)
          : await applyRetention(root.root, policy);
        if (records.length > 0) process.stdout.write(`${verb} build records: ${records.length}\n`);
        process.stdout.write(`Total reclaimed space: ${humanSize(r.reclaimedBytes)}\n`);
      } finally {
        await root.close();
      }
    });
}
