/**
 * A streamed JSON-lines response, as dockerd sends for builds, pulls and pushes: headers go out at once (the CLI
 * shows progress as it comes), then one JSON object per line. Writes after the client left are dropped.
 *
 * Memory bound: the builder cannot be paused, so while more than `maxBuffered` bytes wait for a slow client,
 * progress lines are dropped (and counted in one note once it catches up); results and errors always go out.
 */
import type { ServerResponse } from 'node:http';

export interface JsonStream {
  write(m: unknown): void;
  end(): void;
}

/** Messages a client must get whatever its speed: the image ID, the error, the final event. */
function essential(m: Record<string, unknown>): boolean {
  if ('aux' in m || 'error' in m || 'errorDetail' in m) return true;
  const k = m.kiln as { type?: string } | undefined;
  return k?.type === 'build-done' || k?.type === 'build-start';
}

export function startJsonStream(res: ServerResponse, status = 200, maxBuffered = 8 * 1024 * 1024): JsonStream {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.flushHeaders();
  let dropped = 0;
  const send = (m: unknown) => res.write(`${JSON.stringify(m)}\n`);
  return {
    write(m) {
      if (res.destroyed || res.writableEnded) return;
      if (res.writableLength > maxBuffered && !essential(m as Record<string, unknown>)) {
        dropped++;
        return;
      }
      if (dropped) {
        send({ stream: `[kiln] ${dropped} progress lines dropped: the client read too slowly\n` });
        dropped = 0;
      }
      send(m);
    },
    end() {
      if (!res.writableEnded) res.end();
    },
  };
}
