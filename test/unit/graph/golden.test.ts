/**
 * Golden op graphs: for every case in test/fixtures/dockerfiles (its Dockerfile and args.json), the graph
 * buildGraph() makes is compared with test/fixtures/graph/<case>.json. An invalid case must fail with a coded
 * error, never produce a graph. KILN_UPDATE_GOLDEN=1 (or UPDATE_GOLDEN=1) rewrites the files: review the diff
 * before committing, the files are the specification of the graph.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isKilnError } from '../../../src/errors.js';
import { buildGraph } from '../../../src/graph/build-graph.js';
import type { ImageConfig } from '../../../src/image/types.js';
import { parseDockerfile, parsePlatform } from '../../../src/parser/index.js';

const CASES = fileURLToPath(new URL('../../fixtures/dockerfiles/', import.meta.url));
const GOLDEN = fileURLToPath(new URL('../../fixtures/graph/', import.meta.url));
const UPDATE = process.env.KILN_UPDATE_GOLDEN === '1' || process.env.UPDATE_GOLDEN === '1';

/**
 * A fixed config for busybox, so the goldens show a base image's ENV and WORKDIR reaching the ops; every other
 * image is unknown (its source op says so), as for `kiln outline --graph` without it in the store.
 */
const BUSYBOX: ImageConfig = {
  architecture: 'amd64',
  os: 'linux',
  rootfs: { type: 'layers', diff_ids: [] },
  config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'BASE_ENV=from-image'], WorkingDir: '/home', Cmd: ['sh'] },
};

function graphOf(name: string) {
  const dir = join(CASES, name);
  const argsFile = join(dir, 'args.json');
  const a = existsSync(argsFile) ? JSON.parse(readFileSync(argsFile, 'utf8')) : {};
  const platform = a.platform ?? 'linux/amd64';
  const df = parseDockerfile(readFileSync(join(dir, 'Dockerfile'), 'utf8'), {
    file: 'Dockerfile',
    buildArgs: a.buildArgs,
    target: a.target,
    platform: parsePlatform(platform),
    buildPlatform: parsePlatform(a.buildPlatform ?? 'linux/amd64'),
  });
  return buildGraph(df, { platform, imageConfig: (ref) => (ref === 'busybox' ? BUSYBOX : undefined) });
}

const cases = readdirSync(CASES)
  .filter((d) => existsSync(join(CASES, d, 'Dockerfile')))
  .sort();
const valid = cases.filter((c) => !c.startsWith('invalid-'));

test('there are valid cases to make graphs of', () => {
  assert.ok(valid.length >= 10, `only ${valid.length} valid cases`);
});

for (const name of valid) {
  test(`graph golden ${name}`, () => {
    const graph = graphOf(name);
    // Plain data: a JSON round trip gives the same graph.
    assert.equal(JSON.parse(JSON.stringify(graph)), graph);
    const file = join(GOLDEN, `${name}.json`);
    const text = JSON.stringify(graph, null, 2) + '\n';
    if (UPDATE) writeFileSync(file, text);
    assert.ok(existsSync(file), `missing golden ${file} (run with KILN_UPDATE_GOLDEN=1)`);
    assert.fixture(text, readFileSync(file, 'utf8'));
  });
}

for (const name of cases.filter((c) => c.startsWith('invalid-'))) {
  test(`graph of ${name} is refused with a coded error`, () => {
    try {
      graphOf(name);
    } catch (err) {
      assert.ok(isKilnError(err), String(err));
      return;
    }
    assert.unreachable(`${name} gave a graph`);
  });
}

test('every op of a graph has a digest, inputs that exist earlier, and stages list only their own ops', () => {
  for (const name of valid) {
    const g = graphOf(name);
    const seen = new Set<string>();
    for (const op of g.ops) {
      assert.match(op.digest, /^sha256:[0-9a-f]{64}$/);
      for (const i of op.inputs) assert.ok(seen.has(i), `${name}: ${op.id} reads ${i} before it exists`);
      seen.add(op.id);
    }
    for (const s of g.stages) for (const id of s.ops) assert.ok(id.startsWith(`s${s.index}.`), `${name}: ${id} in stage ${s.index}`);
  }
});

test.run();
