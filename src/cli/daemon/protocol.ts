/**
 * The resident builder's wire format over its unix socket: frames of `[type: 1 byte][length: u32 BE][payload]`.
 * One connection carries one invocation:
 *   client → daemon  `R` request (JSON, first frame), `I` interrupt (the client got SIGINT/SIGTERM)
 *   daemon → client  `o` stdout bytes, `e` stderr bytes, `x` exit (JSON `{ code }`, last frame)
 * Bytes stay bytes (`--output type=tar,dest=-` streams a tar through `o`). Loaded by the client on every
 * `kiln build`: node built-ins only.
 */

import type { Socket } from 'node:net';

export const FRAME = {
  request: 0x52, // 'R'
  interrupt: 0x49, // 'I'
  stdout: 0x6f, // 'o'
  stderr: 0x65, // 'e'
  exit: 0x78, // 'x'
} as const;

/** A request larger than this is refused (argv and environment are a few KiB; this is a bound, not a target). */
export const MAX_REQUEST_BYTES = 4 << 20;

/** What the client sends first: everything the command reads from its process, which the daemon is not. */
export interface DaemonRequest {
  /** The daemon's identity as the client computed it; a mismatch means the daemon must not serve this client. */
  key: string;
  /** argv as `main()` takes it: [node, script, ...args]. */
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  stdout: TerminalInfo;
  stderr: TerminalInfo;
}

export interface TerminalInfo {
  isTTY: boolean;
  columns?: number;
}

export function encodeFrame(type: number, payload: Uint8Array | string = ''): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const head = Buffer.allocUnsafe(5);
  head[0] = type;
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

/**
 * Splits a byte stream into frames. `push` returns the complete frames so far; a frame longer than `maxFrame`
 * throws (a peer that is not a kiln client or daemon).
 */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);

  constructor(private readonly maxFrame = 64 << 20) {}

  push(chunk: Buffer): Array<{ type: number; payload: Buffer }> {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const frames: Array<{ type: number; payload: Buffer }> = [];
    while (this.buf.length >= 5) {
      const len = this.buf.readUInt32BE(1);
      if (len > this.maxFrame) throw new Error(`frame of ${len} bytes exceeds ${this.maxFrame}`);
      if (this.buf.length < 5 + len) break;
      frames.push({ type: this.buf[0]!, payload: this.buf.subarray(5, 5 + len) });
      this.buf = this.buf.subarray(5 + len);
    }
    return frames;
  }

  /** Bytes of an incomplete frame still held (a connection that ends here was cut mid-frame). */
  get pending(): number {
    return this.buf.length;
  }
}

/**
 * Feeds `socket`'s bytes through a decoder to `onFrame`, in order. A stream that is not frames (an oversized
 * length), or an `onFrame` that throws (a malformed payload), destroys the socket.
 */
export function readFrames(socket: Socket, onFrame: (type: number, payload: Buffer) => void, maxFrame?: number): void {
  const decoder = new FrameDecoder(maxFrame);
  socket.on('data', (chunk: Buffer) => {
    try {
      for (const f of decoder.push(chunk)) onFrame(f.type, f.payload);
    } catch {
      socket.destroy();
    }
  });
}
