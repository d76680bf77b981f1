/**
 * The registry client's TransferEvents as the JSON progress lines `docker push` / `docker pull` print:
 * `{"status":"Pushed","id":"3f1a2b…","progressDetail":{}}` per layer, keyed by the short blob digest.
 */
import type { TransferEvent } from '../registry/types.js';
import type { JsonMessage } from './build-stream.js';

const PUSH: Record<string, string> = {
  waiting: 'Waiting',
  exists: 'Layer already exists',
  mounted: 'Mounted from',
  uploading: 'Pushing',
  verifying: 'Pushing',
  done: 'Pushed',
  retrying: 'Retrying',
  downloading: 'Pushing',
};
const PULL: Record<string, string> = {
  waiting: 'Waiting',
  exists: 'Already exists',
  mounted: 'Already exists',
  downloading: 'Downloading',
  verifying: 'Verifying Checksum',
  done: 'Pull complete',
  retrying: 'Retrying',
  uploading: 'Downloading',
};

/** Maps one event; undefined for events the docker CLI has no line for (manifests, configs). */
export function transferMessage(ev: TransferEvent, dir: 'push' | 'pull'): JsonMessage | undefined {
  if (ev.type !== 'blob' || ev.kind !== 'layer') return undefined;
  const id = ev.digest.replace(/^sha256:/, '').slice(0, 12);
  const status = (dir === 'push' ? PUSH : PULL)[ev.status] ?? ev.status;
  const moving = ev.status === 'uploading' || ev.status === 'downloading';
  return moving ? { status, id, progressDetail: { current: ev.current, total: ev.size } } : { status, id, progressDetail: {} };
}
