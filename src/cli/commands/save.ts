/**
 * `kiln save [-o FILE] [--format docker|oci] IMAGE…`: writes images to a tar archive (stdout when -o is absent
 * and stdout is not a terminal). The file appears only when complete: written beside it, then renamed; temp
 * files that killed saves of the same FILE left behind are removed first.
 */
import type { Command } from 'commander';
import { writeOutputFile } from '../../cache/atomic-file.js';
import { openRoot } from '../../cache/root.js';
import { fromSystemError, KilnError } from '../../errors.js';
import { resolveSaveItems, saveArchive, type ArchiveFormat } from '../../exporter/archive-save.js';
import { globalOptions } from '../context.js';

export function register(program: Command): void {
  program
    .command('save')
    .description('save images to a tar archive (docker-archive or OCI layout)')
    .argument('<image...>', 'references or image IDs')
    .option('-o, --output <file>', 'write to FILE instead of stdout')
    .option('--format <format>', 'docker (docker load, skopeo docker-archive) or oci (OCI image layout)', 'docker')
    .action(async (names: string[], opts: { output?: string; format: string }, cmd: Command) => {
      if (opts.format !== 'docker' && opts.format !== 'oci') {
        throw new KilnError('INVALID_ARGUMENT', `unknown --format "${opts.format}"`, { hint: 'use --format docker or --format oci' });
      }
      if (!opts.output && process.stdout.isTTY) {
        throw new KilnError('INVALID_ARGUMENT', 'refusing to write an archive to a terminal', { hint: 'use -o FILE or redirect stdout' });
      }
      const root = await openRoot(globalOptions(cmd).root);
      try {
        const items = await resolveSaveItems(root.images, names, root.content);
        if (!opts.output) {
          await saveArchive(root.content, items, process.stdout, { format: opts.format as ArchiveFormat });
          return;
        }
        // A save killed before its rename left its temp file here; this run of the command clears it.
        const file = opts.output;
        await writeOutputFile(file, (out) => saveArchive(root.content, items, out, { format: opts.format as ArchiveFormat })).catch((err: unknown) => {
          throw fromSystemError(err, file) ?? err;
        });
      } finally {
        await root.close();
      }
    });
}
