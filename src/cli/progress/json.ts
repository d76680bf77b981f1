/** `--progress json`: one BuildEvent per line, as the builder emitted it (what scripts and the server consume). */
import type { Writable } from 'node:stream';
import type { ProgressRenderer } from './types.js';

export function createJsonRenderer(out: Writable): ProgressRenderer {
  return {
    onEvent(e) {
      out.write(`${JSON.stringify({ ...e, time: new Date().toISOString() })}\n`);
    },
    close() {},
  };
}
