/**
 * Go's tar and gzip readers (umoci, the same code paths containerd and Docker use) read kiln's layers: PAX
 * xattrs byte-exact, long names, hardlinks, setuid, big ids, multi-member parallel gzip, zstd, whiteouts.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, lstatSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createContentStore } from '../../../src/cache/content-store.js';
import { layerTar } from '../../../src/layers/layer-diff.js';
import { writeLayer } from '../../../src/exporter/layer-writer.js';
import { getXattrs, makeNode, S_IFCHR } from '../../../src/native/fsx.js';
import { canonicalJson } from '../../../src/image/canonical-json.js';
import { MediaType } from '../../../src/image/types.js';
import { listTree, makeRichTree, CAP_NET_BIND } from '../../helpers/layer-tree.js';

let dir: string;
test.before.each(() => {
  dir = mkdtempSync(join(tmpdir(), 'kiln-go-'));
});
test.after.each(() => rmSync(dir, { recursive: true, force: true }));

for (const compression of ['gzip', 'zstd'] as const) {
  test(`Go tools read a kiln image (${compression}): umoci unpacks gzip to the same tree, skopeo decompresses zstd to the diff IDs`, async () => {
    const layout = join(dir, 'layout');
    const content = createContentStore(layout);
    const base = join(dir, 'base'),
      upper = join(dir, 'upper');
    mkdirSync(base);
    makeRichTree(base);
    writeFileSync(join(base, 'doomed'), 'x');
    writeFileSync(join(base, 'big2'), Buffer.alloc(3 << 20, 5)); // several parallel gzip members
    mkdirSync(upper);
    makeNode(join(upper, 'doomed'), S_IFCHR, 0, 0);
    const layers = [await writeLayer(content, layerTar(base), { compression }), await writeLayer(content, layerTar(upper), { compression })];
    const config = canonicalJson({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) }, config: {} });
    const cfg = await content.writeBuffer(config);
    const manifest = canonicalJson({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, ...cfg },
      layers: layers.map((l) => l.descriptor),
    });
    const man = await content.writeBuffer(manifest);
    writeFileSync(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    writeFileSync(
      join(layout, 'index.json'),
      canonicalJson({ schemaVersion: 2, manifests: [{ mediaType: MediaType.OciManifest, ...man, annotations: { 'org.opencontainers.image.ref.name': 't' } }] }),
    );
    rmSync(join(layout, '.kiln-tmp'), { recursive: true, force: true });

    if (compression === 'zstd') {
      // umoci 0.4 predates zstd layers; skopeo (Go's zstd decoder) decompresses them and must get the diff IDs.
      const out = join(dir, 'out');
      execFileSync('skopeo', ['copy', '--dest-decompress', `oci:${layout}:t`, `dir:${out}`], { stdio: 'pipe' });
      for (const l of layers) {
        const hex = l.diffId.slice(7);
        assert.is(execFileSync('sha256sum', [join(out, hex)], { encoding: 'utf8' }).split(' ')[0], hex);
      }
      return;
    }
    const bundle = join(dir, 'bundle');
    execFileSync('umoci', ['unpack', '--image', `${layout}:t`, bundle], { stdio: 'pipe' });
    const rootfs = join(bundle, 'rootfs');
    rmSync(join(base, 'doomed'));
    const strip = (lines: string[]) => lines.map((l) => l.replace(/ mtime=\d+/, ''));
    assert.equal(strip(listTree(rootfs)), strip(listTree(base)));
    assert.ok(getXattrs(join(rootfs, 'usr/bin/ping'))!['security.capability']!.equals(CAP_NET_BIND));
    assert.is(lstatSync(join(rootfs, 'nobody-file')).uid, 4294967294);
    assert.ok(readFileSync(join(rootfs, 'big2')).equals(Buffer.alloc(3 << 20, 5)));
  });
}

test.run();
