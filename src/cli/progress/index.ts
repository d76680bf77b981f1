/** Picks the progress renderer for `--progress auto|tty|plain|json` (auto: tty on a terminal, else plain). */
import type { Writable } from 'node:stream';
import { createJsonRenderer } from './json.js';
import { createPlainRenderer } from './plain.js';
import { createTtyRenderer } from './tty.js';
import type { ProgressMode, ProgressRenderer } from './types.js';

export type { ProgressMode, ProgressRenderer } from './types.js';

/** `explain`: show why steps missed in tty mode (plain always shows it); `env`: the caller's, for TERM. */
export function createRenderer(
  mode: ProgressMode,
  out: Writable & { isTTY?: boolean },
  opts: { explain?: boolean; env?: NodeJS.ProcessEnv } = {},
): ProgressRenderer {
  const m = mode === 'auto' ? (out.isTTY && (opts.env ?? process.env).TERM !== 'dumb' ? 'tty' : 'plain') : mode;
  switch (m) {
    case 'tty':
      return createTtyRenderer(out, opts);
    case 'json':
      return createJsonRenderer(out);
    case 'quiet':
      return { onEvent() {}, close() {} };
    default:
      return createPlainRenderer(out);
  }
}
