/**
 * `kiln inspect IMAGE…`: a JSON array shaped like `docker image inspect` (Id, RepoTags, RepoDigests, Created,
 * Config, Architecture, Os, RootFS, Size) plus what an OCI store knows (Manifest, Layers with their descriptors).
 * `--format '{{.Config.Cmd}}'` / `'{{json .Config}}'` picks one field, as Docker's Go templates do for plain paths.
 */
import type { Command } from 'commander';
import type { ImageRecord } from '../../cache/image-store.js';
import { openRoot } from '../../cache/root.js';
import { KilnError } from '../../errors.js';
import { familiarize, familiarName, parseReference } from '../../image/reference.js';
import { globalOptions } from '../context.js';

/** The inspect document of one image. */
function inspectDocument(image: ImageRecord): Record<string, unknown> {
  const c = image.config;
  const repoDigests = [
    ...new Set(
      image.refs.map((r) => {
        const p = parseReference(r);
        return `${familiarName({ domain: p.domain, path: p.path })}@${image.indexDigest ?? image.manifestDigest}`;
      }),
    ),
  ];
  return {
    Id: image.id,
    RepoTags: image.refs.map(familiarize),
    RepoDigests: repoDigests,
    Created: c.created ?? '',
    Author: c.author ?? '',
    Architecture: c.architecture,
    Os: c.os,
    ...(c.variant ? { Variant: c.variant } : {}),
    Config: c.config ?? {},
    RootFS: { Type: c.rootfs?.type ?? 'layers', Layers: c.rootfs?.diff_ids ?? [] },
    History: c.history ?? [],
    Size: image.size,
    Descriptor: image.descriptor,
    ...(image.indexDigest ? { IndexDigest: image.indexDigest } : {}),
    // A multi-platform image: every platform of its index (the fields above describe this host's, or --platform's).
    ...(image.platforms ? { Platforms: image.platforms } : {}),
    Manifest: image.manifest,
    Layers: image.manifest.layers,
  };
}

/** Renders `{{.A.B}}` and `{{json .A.B}}` against `doc`; anything else is INVALID_ARGUMENT. */
function renderFormat(format: string, doc: unknown): string {
  return format
    .replace(/\{\{\s*(json\s+)?\.([\w.]*)\s*\}\}/g, (_m, json: string | undefined, path: string) => {
      let v: unknown = doc;
      for (const k of path.split('.').filter(Boolean)) v = (v as Record<string, unknown> | undefined)?.[k];
      if (json) return JSON.stringify(v ?? null);
      if (Array.isArray(v)) return `[${v.join(' ')}]`;
      if (v && typeof v === 'object')
        return `map[${Object.entries(v)
          .map(([k, x]) => `${k}:${String(x)}`)
          .join(' ')}]`;
      return v === undefined || v === null ? '<no value>' : String(v);
    })
    .replace(/\{\{.*?\}\}/g, (m) => {
      throw new KilnError('INVALID_ARGUMENT', `unsupported template ${m}`, { hint: 'supported: {{.Field.Sub}} and {{json .Field}}' });
    });
}

export function register(program: Command): void {
  program
    .command('inspect')
    .description('show details of images as JSON')
    .argument('<image...>', 'references or image IDs')
    .option('-f, --format <template>', 'print one field, e.g. {{.Config.Cmd}} or {{json .Config}}')
    .option('--platform <os/arch[/variant]>', "of a multi-platform image, inspect this platform's image (default this host's)")
    .action(async (names: string[], opts: { format?: string; platform?: string }, cmd: Command) => {
      const root = await openRoot(globalOptions(cmd).root);
      try {
        const docs = [];
        const { parsePlatform } = await import('../../image/platform.js');
        const platform = opts.platform ? parsePlatform(opts.platform) : undefined;
        for (const n of names) docs.push(inspectDocument(await root.images.resolve(n, platform ? { platform } : {})));
        if (opts.format) {
          for (const d of docs) process.stdout.write(`${renderFormat(opts.format, d)}\n`);
        } else {
          process.stdout.write(`${JSON.stringify(docs, null, 4)}\n`);
        }
      } finally {
        await root.close();
      }
    });
}
