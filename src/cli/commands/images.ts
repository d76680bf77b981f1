/**
 * `kiln images [REPOSITORY[:TAG]]`: the store's images as Docker lists them (REPOSITORY TAG IMAGE ID CREATED
 * SIZE), one row per tag plus `<none>` rows for dangling images; `-q` prints IDs only, `--format json` one JSON
 * object per line (Docker's field names).
 */
import type { Command } from 'commander';
import { displayRepoTag, type ImageRecord } from '../../cache/image-store.js';
import { openRoot } from '../../cache/root.js';
import { KilnError } from '../../errors.js';
import { shortId } from '../../image/digest.js';
import { parseReference, repositoryName } from '../../image/reference.js';
import { globalOptions } from '../context.js';
import { humanSince, humanSize, table } from '../human-units.js';

interface Row {
  repository: string;
  tag: string;
  full?: string;
  image: ImageRecord;
}

function rowsOf(images: ImageRecord[]): Row[] {
  const rows: Row[] = [];
  for (const image of images) {
    if (image.refs.length === 0) rows.push({ ...displayRepoTag(undefined), image });
    for (const full of image.refs) rows.push({ ...displayRepoTag(full), full, image });
  }
  const created = (r: Row) => Date.parse(r.image.config.created ?? '') || 0;
  return rows.sort((a, b) => created(b) - created(a) || a.repository.localeCompare(b.repository) || a.tag.localeCompare(b.tag));
}

/** Filters rows by a `REPOSITORY[:TAG]` argument, matched on the normalised names. */
function matches(row: Row, filter: string): boolean {
  if (!row.full) return false;
  const want = parseReference(filter, { defaultTag: false });
  const have = parseReference(row.full, { defaultTag: false });
  return repositoryName(want) === repositoryName(have) && (want.tag === undefined || want.tag === have.tag);
}

/** `dangling=true|false`, `reference=busybox*` (a glob over the familiar repository[:tag]). */
function filterOf(f: string): (r: Row) => boolean {
  const m = /^(dangling|reference)=(.*)$/.exec(f);
  if (!m) throw new KilnError('INVALID_ARGUMENT', `unsupported filter "${f}"`, { hint: 'supported: dangling=true|false, reference=PATTERN' });
  if (m[1] === 'dangling') {
    if (m[2] !== 'true' && m[2] !== 'false') throw new KilnError('INVALID_ARGUMENT', `dangling filter must be true or false, not "${m[2]}"`);
    const want = m[2] === 'true';
    return (r) => (r.full === undefined) === want;
  }
  const re = new RegExp(
    `^${m[2]!
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '[^/]*')
      .replace(/\?/g, '.')}$`,
  );
  return (r) => r.full !== undefined && (re.test(r.repository) || re.test(`${r.repository}:${r.tag}`));
}

export function register(program: Command): void {
  program
    .command('images')
    .description('list images in the store')
    .argument('[reference]', 'only images of this repository[:tag]')
    .option('-q, --quiet', 'only show image IDs')
    .option('--no-trunc', 'do not truncate image IDs')
    .option('--format <format>', 'output format: table or json')
    .option('-a, --all', 'show all images (kiln has no intermediate images; accepted for Docker habits)')
    .option('-f, --filter <filter>', 'dangling=true|false or reference=PATTERN (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .action(async (reference: string | undefined, opts: { quiet?: boolean; trunc: boolean; format?: string; filter: string[] }, cmd: Command) => {
      if (globalOptions(cmd).host) return (await import('../remote/entry.js')).remoteImagesCommand(globalOptions(cmd), reference, opts);
      if (opts.format && opts.format !== 'json' && opts.format !== 'table') {
        throw new KilnError('INVALID_ARGUMENT', `unknown --format "${opts.format}"`, { hint: 'use --format json or --format table' });
      }
      const root = await openRoot(globalOptions(cmd).root);
      try {
        let rows = rowsOf(await root.images.list());
        if (reference) rows = rows.filter((r) => matches(r, reference));
        for (const f of opts.filter) rows = rows.filter(filterOf(f));
        const id = (r: Row) => (opts.trunc ? shortId(r.image.id) : r.image.id);
        if (opts.quiet) {
          process.stdout.write(rows.map((r) => `${id(r)}\n`).join(''));
        } else if (opts.format === 'json') {
          for (const r of rows) {
            process.stdout.write(
              `${JSON.stringify({
                Repository: r.repository,
                Tag: r.tag,
                ID: id(r),
                Digest: r.image.indexDigest ?? r.image.manifestDigest,
                CreatedAt: r.image.config.created ?? '',
                CreatedSince: humanSince(r.image.config.created),
                Size: humanSize(r.image.size),
                SizeBytes: r.image.size,
                ...(r.image.platforms ? { Platforms: r.image.platforms } : {}),
              })}\n`,
            );
          }
        } else {
          // A multi-platform image (an index) shows its platforms; the column appears only when one is listed.
          const anyIndex = rows.some((r) => r.image.platforms?.length);
          const lines = [['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE', ...(anyIndex ? ['PLATFORMS'] : [])]];
          for (const r of rows) {
            const platforms = anyIndex ? [r.image.platforms?.join(',') ?? ''] : [];
            lines.push([r.repository, r.tag, id(r), humanSince(r.image.config.created), humanSize(r.image.size), ...platforms]);
          }
          process.stdout.write(table(lines));
        }
      } finally {
        await root.close();
      }
    });
}
