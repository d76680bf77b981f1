/**
 * Container events as dockerd emits them (daemon/events.go LogContainerEventWithAttributes): the Actor's
 * Attributes are the container's labels, then `image` (as the user named it) and `name` (no leading slash),
 * plus what the action adds (`exitCode` for die, `signal` for kill, `oldName` for rename).
 */
import { emitEvent } from '../events/events.js';
import type { ContainerRecord } from './containers.js';

/** Appends a container event to the root's event log; never throws. */
export function emitContainerEvent(
  root: string,
  rec: Pick<ContainerRecord, 'id' | 'name' | 'image' | 'labels'>,
  action: string,
  extra: Record<string, string> = {},
): void {
  emitEvent(root, 'container', action, rec.id, { ...(rec.labels ?? {}), image: rec.image, name: rec.name, ...extra });
}
