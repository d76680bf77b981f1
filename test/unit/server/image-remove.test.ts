import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createImageBackend } from '../../../src/server/image-backend.js';
import { createContainerStore, type ContainerStatus } from '../../../src/containers/containers.js';
import { MediaType } from '../../../src/image/types.js';
import { KilnError } from '../../../src/errors.js';
import { cleanupRoots, configFor, tempRoot } from '../store/store-fixtures.js';

test.after(cleanupRoots);

async function setup(tags: string[], status?: ContainerStatus) {
  const root = await tempRoot();
  const blob = await root.content.writeBuffer(`layer ${Math.random()}`);
  await root.images.writeImage({ config: configFor([blob.digest]), layers: [{ mediaType: MediaType.OciLayer, digest: blob.digest, size: blob.size }], tags });
  const imageId = (await root.images.resolve(tags[0]!)).id;
  const cid = 'c'.repeat(64);
  if (status) {
    await createContainerStore({ root: root.root }).create({
      id: cid,
      name: 'user',
      image: tags[0]!,
      imageId,
      created: new Date().toISOString(),
      status,
      autoRemove: false,
      detached: false,
      volumes: [],
      spec: {} as never,
    });
  }
  return { root, images: createImageBackend(root), imageId, short: imageId.replace(/^sha256:/, '').slice(0, 12), cid: cid.slice(0, 12) };
}

async function conflict(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    assert.instance(err, KilnError);
    assert.is((err as KilnError).category === 'precondition' || (err as KilnError).category === 'exists', true);
    return (err as Error).message;
  }
  assert.unreachable('no conflict');
  return '';
}

test('by tag: the last tag of an image a container uses needs force', async () => {
  const s = await setup(['app:1'], 'exited');
  const msg = await conflict(s.images.remove('app:1', { force: false }));
  assert.is(msg, `conflict: unable to remove repository reference "app:1" (must force) - container ${s.cid} is using its referenced image ${s.short}`);
  assert.ok(await s.root.images.find('app:1'));
  // Forced, a stopped container's image goes (as dockerd).
  const out = await s.images.remove('app:1', { force: true });
  assert.equal(out, [{ Untagged: 'app:1' }, { Deleted: s.imageId }]);
});

test('by tag, forced: a running container keeps its image, untagged', async () => {
  const s = await setup(['app:1'], 'running');
  assert.equal(await s.images.remove('app:1', { force: true }), [{ Untagged: 'app:1' }]);
  assert.is((await s.root.images.resolve(s.imageId)).refs.length, 0);
});

test('by ID: stopped needs force; running cannot be forced', async () => {
  const stopped = await setup(['app:1'], 'exited');
  assert.is(
    await conflict(stopped.images.remove(stopped.short, { force: false })),
    `conflict: unable to delete ${stopped.short} (must be forced) - image is being used by stopped container ${stopped.cid}`,
  );
  const running = await setup(['app:1'], 'running');
  assert.is(
    await conflict(running.images.remove(running.short, { force: true })),
    `conflict: unable to delete ${running.short} (cannot be forced) - image is being used by running container ${running.cid}`,
  );
  assert.ok(await running.root.images.find('app:1'));
});

test('an unused image is removed as before; one of several tags just untags', async () => {
  const s = await setup(['app:1', 'app:2']);
  assert.equal(await s.images.remove('app:1', { force: false }), [{ Untagged: 'app:1' }]);
  assert.equal(await s.images.remove('app:2', { force: false }), [{ Untagged: 'app:2' }, { Deleted: s.imageId }]);
});

test.run();
