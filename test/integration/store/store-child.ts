/**
 * A helper process for the store's crash and concurrency tests: `node --import tsx store-child.ts MODE ROOT …`.
 * Prints `ready` once it is in the middle of its work so the parent knows when to SIGKILL it.
 */
import { Readable } from 'node:stream';
import { openRoot } from '../../../src/cache/root.js';
import { writeBlob } from '../../../src/cache/content-store.js';
import { collectGarbage } from '../../../src/cache/gc.js';
import { MediaType } from '../../../src/image/types.js';

const [mode, rootDir, arg] = process.argv.slice(2);
const root = await openRoot(rootDir!);

switch (mode) {
  case 'blob': {
    // An endless blob: the parent kills us mid-write.
    let n = 0;
    const src = new Readable({
      read() {
        if (n++ === 4) process.stdout.write('ready\n');
        setTimeout(() => this.push(Buffer.alloc(256 * 1024, n)), 1);
      },
    });
    await writeBlob(root.content, src);
    break;
  }
  case 'tags': {
    // Tag in a loop; the parent kills us at some point, maybe while we hold the store lock.
    // As a build does: the layer is leased from the moment it is written until the image is tagged.
    const lease = root.lease();
    const blob = await root.content.writeBuffer(`layer-${arg}`, {}, { lease });
    const w = await root.images.writeImage({
      lease,
      config: { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [blob.digest] } },
      layers: [{ mediaType: MediaType.OciLayer, digest: blob.digest, size: blob.size }],
      tags: [`child-${arg}:0`],
    });
    await lease.release();
    process.stdout.write('ready\n');
    const count = Number(process.env.TAG_COUNT ?? 1e9);
    for (let i = 1; i <= count; i++) await root.images.tag(`child-${arg}:${i}`, w.manifest);
    break;
  }
  case 'lease': {
    const lease = root.lease();
    const blob = await root.content.writeBuffer(`leased-${arg}`, {}, { lease });
    process.stdout.write(`ready ${blob.digest}\n`);
    setInterval(() => {}, 1000); // hold the lease (and the process) until killed
    await new Promise(() => {});
    break;
  }
  case 'prune': {
    const count = Number(arg ?? 5);
    for (let i = 0; i < count; i++) await collectGarbage(root, { removeDangling: true });
    break;
  }
}
await root.close();
