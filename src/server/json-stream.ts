/**
 * A streamed JSON-lines response, as dockerd sends for builds, pulls and pushes: headers go out at once (the CLI
 * shows progress as it comes), then one JSON object per line. Writes after the client left are dropped.
 */
import type { ServerResponse } from 'node:http';

export interface JsonStream {
  write(m: unknown): void;
  end(): void;
}

export function startJsonStream(res: ServerResponse, status = 200): JsonStream {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.flushHeaders();
  (res as ServerResponse & { kilnStreaming?: boolean }).kilnStreaming = true;
  return {
    write(m) {
      if (!res.destroyed && !res.writableEnded) res.write(`${JSON.stringify(m)}\n`);
    },
    end() {
      if (!res.writableEnded) res.end();
    },
  };
}
