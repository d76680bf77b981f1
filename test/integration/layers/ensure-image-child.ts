/** Child process for the cross-process snapshot test: ensureImage on a shared root, prints the lower dirs. */
import { createContentStore } from '../../../src/cache/content-store.js';
import { createSnapshotter } from '../../../src/cache/snapshotter.js';

const [oci, root, layersJson] = process.argv.slice(2);
const snap = createSnapshotter({ root: root!, content: createContentStore(oci!), concurrency: 3 });
const top = await snap.ensureImage(JSON.parse(layersJson!));
process.stdout.write(JSON.stringify(await snap.lowerDirs(top!)));
