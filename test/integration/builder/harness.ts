/**
 * Integration harness for builder tests: a temp state root with the busybox base image, a real builder over it
 * (snapshotter, runc executor, file operations), a temp context written from a file map, and helpers to unpack
 * the built image and list its tree. Everything is removed by `close()`.
 */
import { cp, mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureBusyboxImage } from '../../../src/cache/busybox-image.js';
import { openRoot } from '../../../src/cache/root.js';
import { applyLayer } from '../../../src/cache/apply-layer.js';
import { openBuilder, type OpenedBuilder } from '../../../src/builder/open.js';
import type { BuildEvent, BuildOptions, BuildResult } from '../../../src/builder/types.js';
import type { ImageRecord } from '../../../src/cache/image-store.js';
import { listTree, type TreeEntry } from '../../helpers/tree.js';

export const FIXTURES = fileURLToPath(new URL('../../../fixtures/build/', import.meta.url));

export interface Harness {
  dir: string;
  rootDir: string;
  builder: OpenedBuilder;
  /** A fresh context dir with `files` (path → content) written. */
  context(files: Record<string, string>): Promise<string>;
  /** A copy of `fixtures/build/<name>` to build from (tests may modify it). */
  fixture(name: string): Promise<string>;
  build(contextDir: string, opts?: Partial<BuildOptions>): Promise<BuildResult & { events: BuildEvent[] }>;
  image(ref: string): Promise<ImageRecord>;
  /** Unpacks an image's layers (whiteouts applied) and lists the tree, minus the busybox base's own files. */
  tree(ref: string): Promise<TreeEntry[]>;
  close(): Promise<void>;
}

export async function createHarness(opts: { rootDir?: string } = {}): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-build-'));
  const rootDir = opts.rootDir ?? join(dir, 'root');
  const root = await openRoot(rootDir);
  await ensureBusyboxImage(root, 'busybox:latest');
  const builder = await openBuilder(rootDir, { root });
  let n = 0;
  const h: Harness = {
    dir,
    rootDir,
    builder,
    async context(files) {
      const ctx = join(dir, `ctx-${++n}`);
      await mkdir(ctx, { recursive: true });
      for (const [p, content] of Object.entries(files)) {
        await mkdir(dirname(join(ctx, p)), { recursive: true });
        await writeFile(join(ctx, p), content);
      }
      return ctx;
    },
    async fixture(name) {
      const ctx = join(dir, `fx-${++n}-${name}`);
      await cp(join(FIXTURES, name), ctx, { recursive: true, verbatimSymlinks: true });
      return ctx;
    },
    async build(contextDir, o = {}) {
      const events: BuildEvent[] = [];
      const r = await builder.build({
        contextDir,
        ...o,
        onEvent: (e) => {
          events.push(e);
          o.onEvent?.(e);
        },
      });
      return { ...r, events };
    },
    image: (ref) => root.images.resolve(ref),
    async tree(ref) {
      const img = await root.images.resolve(ref);
      const out = await mkdtemp(join(dir, 'unpack-'));
      for (const l of img.manifest.layers) await applyLayer(await root.content.read(l.digest), out, { whiteouts: 'delete' });
      const base = await root.images.resolve('busybox:latest');
      const baseDir = await mkdtemp(join(dir, 'base-'));
      for (const l of base.manifest.layers) await applyLayer(await root.content.read(l.digest), baseDir, { whiteouts: 'delete' });
      const baseList = new Map((await listTree(baseDir)).map((e) => [e.path, JSON.stringify({ ...e })]));
      const all = await listTree(out);
      await rm(out, { recursive: true, force: true });
      await rm(baseDir, { recursive: true, force: true });
      // Keep entries the build added or changed; unchanged base files are noise for these tests.
      return all.filter((e) => baseList.get(e.path) !== JSON.stringify({ ...e }));
    },
    async close() {
      await builder.close();
      await root.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return h;
}

/** Step texts that executed (not cached) in a build, in order. */
export function executedSteps(events: BuildEvent[]): string[] {
  return events
    .filter((e): e is Extract<BuildEvent, { type: 'step-done' }> => e.type === 'step-done' && !e.step.text.startsWith('FROM'))
    .map((e) => e.step.text);
}

/** The miss reason of the step whose text starts with `prefix`. */
export function missReason(events: BuildEvent[], prefix: string): string | undefined {
  const e = events.find((x): x is Extract<BuildEvent, { type: 'step-miss-reason' }> => x.type === 'step-miss-reason' && x.step.text.startsWith(prefix));
  return e?.reason;
}
