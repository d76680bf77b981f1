/**
 * One blob into a registry repository: HEAD (present: done), a cross-repository mount when a sibling repository
 * is known to hold it, else an upload through the copy routine (resumed where the registry stands, a fresh
 * upload when it cannot resume). What `kiln push`, a build's direct push and a cache export all do per blob.
 */
import type { Descriptor } from '../image/types.js';
import { copyBlob, type OpenSource } from './copy.js';
import type { Transport } from './http.js';
import type { Pusher, PushStart } from './types.js';

export interface PushBlobOptions {
  signal?: AbortSignal;
  /** Repositories of the same registry that may hold the blob (mount candidates, first tried first). */
  mountFrom?: string[];
  /** Names the blob in errors: `127.0.0.1:5000/app blob sha256:…`. */
  what: string;
  /** The registry lacks the blob: an upload starts (before any byte moves). */
  onUpload?(): void;
  onProgress?(current: number): void;
  onRetry?(err: unknown): void;
}

export type PushBlobResult = { status: 'exists' } | { status: 'mounted'; from: string } | { status: 'uploaded' };

/** Pushes `desc`, reading it from `open(offset)` only when it must be uploaded. */
export async function pushBlob(
  pusher: Pusher,
  transport: Pick<Transport, 'maxAttempts' | 'backoff'>,
  desc: Descriptor,
  open: OpenSource,
  opts: PushBlobOptions,
): Promise<PushBlobResult> {
  const start = (): Promise<PushStart> => pusher.push(desc, { signal: opts.signal, mountFrom: opts.mountFrom });
  let first: PushStart | undefined = await start();
  if (first.status === 'exists') return { status: 'exists' };
  if (first.status === 'mounted') return { status: 'mounted', from: first.from };
  opts.onUpload?.();
  const done = await copyBlob(
    desc,
    open,
    async () => {
      if (first) {
        const w = first.status === 'upload' ? first.writer : undefined;
        first = undefined;
        return w;
      }
      const again = await start();
      return again.status === 'upload' ? again.writer : undefined;
    },
    {
      signal: opts.signal,
      maxAttempts: transport.maxAttempts,
      backoff: transport.backoff,
      what: opts.what,
      onProgress: opts.onProgress,
      onRetry: opts.onRetry,
    },
  );
  // A retried upload can find the blob already there (another pusher finished it meanwhile).
  return done ? { status: 'uploaded' } : { status: 'exists' };
}
