import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeFrame, FrameDecoder, FRAME } from '../../../src/cli/daemon/protocol.js';

test('FrameDecoder reassembles frames split at any byte and keeps binary payloads intact', () => {
  const binary = Buffer.from([0, 255, 1, 254, 10, 13]);
  const stream = Buffer.concat([
    encodeFrame(FRAME.request, '{"a":1}'),
    encodeFrame(FRAME.stdout, binary),
    encodeFrame(FRAME.interrupt),
    encodeFrame(FRAME.exit, '{"code":3}'),
  ]);
  for (let step = 1; step <= stream.length; step++) {
    const d = new FrameDecoder();
    const frames = [];
    for (let i = 0; i < stream.length; i += step) frames.push(...d.push(stream.subarray(i, i + step)));
    assert.equal(
      frames.map((f) => f.type),
      [FRAME.request, FRAME.stdout, FRAME.interrupt, FRAME.exit],
      `step ${step}`,
    );
    assert.is(frames[0]!.payload.toString(), '{"a":1}');
    assert.ok(frames[1]!.payload.equals(binary));
    assert.is(frames[2]!.payload.length, 0);
    assert.is(d.pending, 0);
  }
});

test('FrameDecoder refuses a frame longer than its limit (a peer that is not kiln)', () => {
  const d = new FrameDecoder(16);
  assert.throws(() => d.push(encodeFrame(FRAME.request, 'x'.repeat(17))), /exceeds 16/);
  const partial = new FrameDecoder();
  partial.push(encodeFrame(FRAME.stdout, 'hello').subarray(0, 7));
  assert.is(partial.pending, 7);
});

test.run();
