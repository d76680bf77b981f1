/**
 * Reads a container's log.json (Docker's json-file format: one `{"log","stream","time"}` record per chunk the
 * process wrote) from where the last read stopped, so a follower (`docker logs -f`, `kiln run --restart`'s
 * foreground) sees each record once. A torn last line waits for its end; a line that is not a record is skipped.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';

export interface LogRecord {
  log: string;
  stream: string;
  /** When the chunk was written (RFC 3339); "" in records that lack it. */
  time: string;
}

export interface LogReader {
  /** The records appended since the last call (all of them on the first). */
  next(): Promise<LogRecord[]>;
}

export function createLogReader(path: string): LogReader {
  let offset = 0;
  let partial = '';
  return {
    async next() {
      const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW).catch(() => undefined);
      if (!fh) return [];
      const got: LogRecord[] = [];
      try {
        const { size } = await fh.stat();
        if (size <= offset) return [];
        const buf = Buffer.alloc(size - offset);
        const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
        offset += bytesRead;
        const lines = (partial + buf.subarray(0, bytesRead).toString('utf8')).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) {
          if (!line) continue;
          try {
            const e = JSON.parse(line) as Partial<LogRecord>;
            if (typeof e.log === 'string' && typeof e.stream === 'string') got.push({ log: e.log, stream: e.stream, time: e.time ?? '' });
          } catch {
            // not a log record
          }
        }
      } finally {
        await fh.close();
      }
      return got;
    },
  };
}
