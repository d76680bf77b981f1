/**
 * `docker rename`: a new name for a container, running or not. Names are dockerd's (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`,
 * a leading `/` allowed); a taken name is CONTAINER_EXISTS (409). The `rename` event carries the old name as
 * dockerd's does (`oldName`, with its slash).
 */
import { KilnError } from '../errors.js';
import { emitContainerEvent } from './container-events.js';
import { createContainerStore, type ContainerRecord } from './containers.js';

const NAME = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** The name without its leading slash; INVALID_ARGUMENT when dockerd would refuse it. */
export function checkContainerName(name: string): string {
  if (!NAME.test(name)) throw new KilnError('INVALID_ARGUMENT', `Invalid container name (${name.slice(0, 80)}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  return name.replace(/^\//, '');
}

/** Renames `rec` to `newName`; returns the updated record. */
export async function renameContainer(root: string, rec: ContainerRecord, newName: string): Promise<ContainerRecord> {
  const name = checkContainerName(newName);
  if (name === rec.name) throw new KilnError('INVALID_ARGUMENT', 'Renaming a container with the same name as its current name');
  const store = createContainerStore({ root });
  const taken = (await store.list()).find((r) => r.name === name);
  if (taken)
    throw new KilnError(
      'CONTAINER_EXISTS',
      `Conflict. The container name "/${name}" is already in use by container "${taken.id}". You have to remove (or rename) that container to be able to reuse that name.`,
    );
  const next = await store.update(rec.id, { name });
  emitContainerEvent(root, next, 'rename', { oldName: `/${rec.name}` });
  return next;
}
