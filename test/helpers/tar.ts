/** Small tar archives for tests, packed with tar-stream (an independent writer, not kiln's own). */
import tar from 'tar-stream';

/** An uncompressed tar holding `files` (name → content), in the given order. */
export async function tarOf(files: Record<string, string | Buffer>): Promise<Buffer> {
  const pack = tar.pack();
  for (const [name, body] of Object.entries(files)) pack.entry({ name }, body);
  pack.finalize();
  const out: Buffer[] = [];
  for await (const chunk of pack as AsyncIterable<Buffer>) out.push(chunk);
  return Buffer.concat(out);
}
