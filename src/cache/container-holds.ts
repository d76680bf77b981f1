/**
 * The root filesystem mounts that containers hold, read straight from their records
 * (`<root>/containers/<id>/state.json`, written by containers/containers.ts). Garbage collection needs only this
 * one fact, and reading it here keeps the store from importing the container runtime that sits above it.
 * `ContainerRecord` extends `RootfsHold`, so a change of the record's shape fails to compile instead of
 * silently freeing a container's layers.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Mount } from './types.js';

/** The part of a container record that garbage collection reads. */
export interface RootfsHold {
  spec?: { rootfs: Mount[] };
}

/** Rootfs mounts of every container record under `containersDir` (none when the directory does not exist). */
export async function containerRootfs(containersDir: string): Promise<Mount[][]> {
  let ids: string[];
  try {
    ids = await readdir(containersDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: Mount[][] = [];
  for (const id of ids) {
    let text: string;
    try {
      text = await readFile(join(containersDir, id, 'state.json'), 'utf8');
    } catch (err) {
      // A directory without a record (being created or removed) holds nothing, as the container store's list() sees it.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') continue;
      throw err;
    }
    let rec: RootfsHold;
    try {
      rec = JSON.parse(text) as RootfsHold;
    } catch {
      continue; // unreadable records are invisible to every container command too (the store skips them)
    }
    out.push(rec.spec?.rootfs ?? []);
  }
  return out;
}
