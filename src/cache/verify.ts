/**
 * `kiln store verify`: re-hashes every blob and checks that every index.json entry names a complete image
 * (manifest, config and every layer present, sizes as the descriptors say). Reads only; reports every problem.
 */
import { hashBlob } from './content-store.js';
import { familiarize } from '../image/reference.js';
import { isIndexMediaType, type Descriptor, type Digest, type Index, type Manifest } from '../image/types.js';
import type { StoreRoot } from './root.js';
import type { IoOptions } from './types.js';

export interface VerifyProblem {
  /** The blob digest or reference concerned. */
  subject: string;
  message: string;
}

export interface VerifyReport {
  blobs: number;
  bytes: number;
  entries: number;
  problems: VerifyProblem[];
}

/** Verifies the store under `root`. `onProgress` is called after each blob is hashed. */
export async function verifyStore(root: StoreRoot, opts: IoOptions & { onProgress?: (done: number) => void } = {}): Promise<VerifyReport> {
  const report: VerifyReport = { blobs: 0, bytes: 0, entries: 0, problems: [] };
  const bad = new Set<Digest>();
  for await (const b of root.content.list()) {
    opts.signal?.throwIfAborted();
    const got = await hashBlob(root.content, b.digest, opts);
    report.blobs++;
    report.bytes += got.size;
    if (got.digest !== b.digest) {
      bad.add(b.digest);
      report.problems.push({ subject: b.digest, message: `content hashes to ${got.digest} (blob corrupt)` });
    }
    opts.onProgress?.(report.blobs);
  }

  const checkBlob = async (d: Descriptor, what: string, subject: string): Promise<boolean> => {
    const info = await root.content.info(d.digest);
    if (!info) {
      report.problems.push({ subject, message: `${what} ${d.digest} is missing` });
      return false;
    }
    if (info.size !== d.size) {
      report.problems.push({ subject, message: `${what} ${d.digest} is ${info.size} bytes, descriptor says ${d.size}` });
      return false;
    }
    return !bad.has(d.digest);
  };

  const checkManifest = async (d: Descriptor, subject: string, depth = 0): Promise<void> => {
    if (!(await checkBlob(d, isIndexMediaType(d.mediaType) ? 'index' : 'manifest', subject))) return;
    let doc: Partial<Manifest & Index>;
    try {
      doc = await root.content.readJson(d.digest);
    } catch {
      report.problems.push({ subject, message: `manifest ${d.digest} is not valid JSON` });
      return;
    }
    if (Array.isArray(doc.manifests) && depth === 0) {
      // Pulls may store only some platforms of an index: children need not all be present, the present ones whole.
      let any = false;
      for (const child of doc.manifests) {
        if (await root.content.has(child.digest)) {
          any = true;
          await checkManifest(child, subject, depth + 1);
        }
      }
      if (!any) report.problems.push({ subject, message: `index ${d.digest} has none of its manifests in the store` });
      return;
    }
    if (!doc.config || !Array.isArray(doc.layers)) {
      report.problems.push({ subject, message: `manifest ${d.digest} has no config or layers` });
      return;
    }
    if (await checkBlob(doc.config, 'config', subject)) {
      const cfg = await root.content.readJson<{ rootfs?: { diff_ids?: unknown[] } }>(doc.config.digest).catch(() => undefined);
      const n = cfg?.rootfs?.diff_ids?.length;
      if (n === undefined) report.problems.push({ subject, message: `config ${doc.config.digest} is not an image config` });
      else if (n !== doc.layers.length) report.problems.push({ subject, message: `config lists ${n} diff_ids for ${doc.layers.length} layers` });
    }
    for (const l of doc.layers) await checkBlob(l, 'layer', subject);
  };

  for (const e of await root.images.entries()) {
    report.entries++;
    await checkManifest(e.descriptor, e.ref ? familiarize(e.ref) : e.descriptor.digest);
  }
  return report;
}
