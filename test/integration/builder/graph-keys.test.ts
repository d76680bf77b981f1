/**
 * The builder keys every step by its op in the graph: one build in two roots, from two context directories, with
 * --add-host addresses that differ, gives identical step keys (and image); a reformatted Dockerfile (spacing,
 * comments, moved lines, a renamed stage) hits the cache for every step; and what the cache records as each
 * step's op is the graph op's definition.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { openBuildCache } from '../../../src/cache/build-cache.js';
import { buildGraph } from '../../../src/graph/build-graph.js';
import { keyedOp } from '../../../src/graph/keys.js';
import { canonicalJson } from '../../../src/image/canonical-json.js';
import { formatPlatform, hostPlatform } from '../../../src/image/platform.js';
import { parseDockerfile, parsePlatform } from '../../../src/parser/index.js';
import { createHarness, type Harness } from './harness.js';

const DF = `FROM busybox AS builder
ARG MODE=release
WORKDIR /app
COPY --chmod=640 src/ ./src/
ADD conf.txt /etc/conf.txt
RUN --mount=type=bind,source=src,target=/mnt/src cat /mnt/src/a.txt > copied.txt && echo "$MODE" > mode.txt

FROM builder AS final
COPY --from=builder /app/mode.txt /out/
RUN ls /out > /out.list
`;

const REFORMATTED = `# the same build, written differently
FROM busybox AS compile

ARG   MODE=release
WORKDIR     /app
# sources
COPY    --chmod=640 \\
        src/    ./src/
ADD   conf.txt    /etc/conf.txt
RUN --mount=type=bind,source=src,target=/mnt/src cat /mnt/src/a.txt > copied.txt && echo "$MODE" > mode.txt


FROM compile AS release
COPY   --from=compile   /app/mode.txt   /out/
RUN ls /out > /out.list
`;

const FILES = { 'src/a.txt': 'a\n', 'src/b.txt': 'b\n', 'conf.txt': 'conf\n', Dockerfile: DF };
const EPOCH = 1700000000;

let h1: Harness;
let h2: Harness;
test.before(async () => {
  h1 = await createHarness();
  h2 = await createHarness();
});
test.after(async () => {
  await h1?.close();
  await h2?.close();
});

async function stepKeys(h: Harness): Promise<string[]> {
  const cache = await openBuildCache(h.rootDir);
  return (await cache.list()).map((r) => r.key).sort();
}

test('two roots and two context directories give identical step keys and the same image', async () => {
  const c1 = await h1.context(FILES);
  const c2 = await h2.context(FILES);
  assert.is.not(c1, c2);
  assert.is.not(h1.rootDir, h2.rootDir);
  const r1 = await h1.build(c1, { sourceDateEpoch: EPOCH, extraHosts: ['10.0.0.1 db'], tags: ['keys:1'] });
  const r2 = await h2.build(c2, { sourceDateEpoch: EPOCH, extraHosts: ['10.99.0.7 db'], tags: ['keys:1'] });
  assert.is(r1.stepsExecuted, 6);
  assert.is(r2.stepsExecuted, 6);
  const k1 = await stepKeys(h1);
  // Six steps; COPY --from is recorded under its stage-identity key and its content key.
  assert.is(k1.length, 7);
  assert.equal(await stepKeys(h2), k1);
  assert.is(r2.imageId, r1.imageId);
});

test('a reformatted Dockerfile with a renamed stage hits the cache for every step', async () => {
  const c = await h1.context({ ...FILES, Dockerfile: REFORMATTED });
  const r = await h1.build(c, { sourceDateEpoch: EPOCH, extraHosts: ['10.0.0.3 db'], tags: ['keys:2'] });
  assert.is(r.stepsExecuted, 0);
  assert.is(r.stepsCached, 6);
  assert.is(r.imageId, (await h1.image('keys:1')).id);
});

test('a changed file re-runs the COPY that reads it and what follows, not the steps before', async () => {
  const c = await h1.context({ ...FILES, 'src/b.txt': 'b2\n' });
  const r = await h1.build(c, { sourceDateEpoch: EPOCH, extraHosts: ['10.0.0.1 db'], tags: ['keys:3'] });
  // WORKDIR hits; COPY src and everything on top of its new layer run again (the final stage starts from it).
  assert.is(r.stepsExecuted, 5);
  assert.is(r.stepsCached, 1);
  assert.equal(
    r.events.filter((e) => e.type === 'step-cached').map((e) => (e as { step: { text: string } }).step.text),
    ['WORKDIR /app'],
  );
});

test('each step the cache recorded is keyed by the op the graph has for it', async () => {
  const platform = formatPlatform(hostPlatform());
  const busybox = (await h1.image('busybox:latest')).config;
  const df = parseDockerfile(DF, { file: 'Dockerfile', platform: parsePlatform(platform) });
  const graph = buildGraph(df, { platform, extraHosts: ['10.0.0.1 db'], imageConfig: (ref) => (ref === 'busybox' ? busybox : undefined) });
  const graphOps = graph.ops.filter((o) => o.kind === 'exec' || o.kind === 'file').map((o) => canonicalJson(keyedOp(o as Parameters<typeof keyedOp>[0])));
  assert.is(graphOps.length, 6);
  const cache = await openBuildCache(h2.rootDir);
  const recorded = new Set<string>();
  for (const r of await cache.list()) {
    const inputs = await cache.inputsOf(r.key);
    assert.ok(inputs, `no inputs for ${r.key}`);
    // The record keeps the op's text beside its definition, for explanations only.
    recorded.add(canonicalJson({ ...inputs!.op, text: undefined }));
  }
  assert.equal([...recorded].sort(), [...graphOps].sort());
});

test.run();
