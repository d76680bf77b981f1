/** `kiln --host … history …`: the server's `/kiln/v1/history` API (server/routes/history.ts) as a HistorySource. */
import type { Readable } from 'node:stream';
import { KilnError } from '../../errors.js';
import type { BuildRecord, HistoryFilter } from '../../history/types.js';
import type { HistorySource } from '../commands/history.js';
import type { GlobalOptions } from '../context.js';
import { remoteError, remoteFor } from './client.js';

const BASE = '/kiln/v1/history';

export function remoteHistory(g: GlobalOptions): HistorySource {
  const c = remoteFor(g);
  if (!c) throw new KilnError('INTERNAL', 'remote command without a host');
  const path = (ref: string, rest = '') => `${BASE}/${encodeURIComponent(ref)}${rest}`;
  const body = async (p: string, query?: URLSearchParams): Promise<Readable> => {
    const res = await c.request({ path: p, ...(query ? { query } : {}) });
    if (res.statusCode! >= 300) throw await remoteError(res);
    return res;
  };
  return {
    list: (f: HistoryFilter) => {
      const filters: Record<string, string[]> = {};
      if (f.status) filters.status = f.status;
      if (f.ref !== undefined) filters.ref = [f.ref];
      if (f.since !== undefined) filters.since = [new Date(f.since).toISOString()];
      if (f.until !== undefined) filters.until = [new Date(f.until).toISOString()];
      return c.json<BuildRecord[]>({ path: BASE, query: new URLSearchParams({ filters: JSON.stringify(filters) }) });
    },
    inspect: (ref) => c.json<BuildRecord>({ path: path(ref) }),
    logs: (ref, step) => body(path(ref, '/logs'), step !== undefined ? new URLSearchParams({ step: String(step) }) : undefined),
    remove: async (ref) => (await c.json<{ id: string }>({ method: 'DELETE', path: path(ref) })).id,
    exportTar: (ref) => body(path(ref, '/export')),
    trace: (ref) => c.json<unknown>({ path: path(ref, '/trace') }),
  };
}
