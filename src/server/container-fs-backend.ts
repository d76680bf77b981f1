/**
 * The container backend's file-system members (`docker diff`, `cp`, `export`, `commit`), over src/containers'
 * container-fs.ts, changes.ts and commit.ts. Kept out of container-backend.ts, which spreads these in.
 */
import type { StoreRoot } from '../cache/root.js';
import { containerChanges } from '../containers/changes.js';
import { commitContainer } from '../containers/commit.js';
import { archiveContainerPath, exportContainer, extractToContainer, statContainerPath } from '../containers/container-fs.js';
import type { ContainerRecord } from '../containers/containers.js';
import type { ContainerBackend } from './backend.js';

type FsMembers = Required<Pick<ContainerBackend, 'changes' | 'statPath' | 'archive' | 'extract' | 'export' | 'commit'>>;

/** The members, resolving a container reference with `get` (CONTAINER_NOT_FOUND). */
export function containerFsMembers(store: StoreRoot, get: (ref: string) => Promise<ContainerRecord>): FsMembers {
  const root = store.root;
  return {
    changes: async (id) => containerChanges(root, await get(id)),
    statPath: async (id, path) => statContainerPath(root, await get(id), path),
    archive: async (id, path, open, opts) => archiveContainerPath(root, await get(id), path, open, opts),
    extract: async (id, path, input, opts) => extractToContainer(root, await get(id), path, input, opts),
    export: async (id, open, opts) => exportContainer(root, await get(id), open, opts),
    commit: async (id, opts) => ({ Id: (await commitContainer(store, await get(id), opts)).id }),
  };
}
