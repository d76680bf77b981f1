/**
 * The folders of src/ form layers, and no folder reaches up: a folder imports only the folders its row below
 * lists (its own files are always allowed). Every relative `import … from`, `export … from`, `import '…'` and
 * `import('…')` of every src/**\/*.ts counts, type-only ones too: a type is a dependency of the build order as well.
 * A new folder must get a row, so its place in the layers is decided rather than left to chance.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../../src');

const BASE = ['errors', 'config'];
/** Folder (or top-level module) -> the folders it may import, lowest layers first. */
const ALLOWED: Record<string, readonly string[]> = {
  errors: [],
  config: ['errors'],
  image: ['errors'],
  paths: ['errors'],
  // The daemon's event log (`docker events`): written by whatever changes an object, read by the server.
  events: ['errors'],
  native: ['errors'],
  parser: ['errors', 'image'],
  tar: ['errors', 'paths', 'native'],
  layers: ['errors', 'image', 'paths', 'native', 'tar'],
  cache: ['errors', 'image', 'paths', 'native', 'tar', 'layers'],
  registry: [...BASE, 'image', 'paths', 'cache'],
  exporter: ['errors', 'image', 'paths', 'native', 'tar', 'layers', 'cache'],
  // The RUN sandbox: what a build step needs (runc, bundle, mounts, seccomp, cgroups, its network namespace).
  sandbox: ['errors', 'image', 'paths', 'native', 'cache'],
  // The container runtime behind `kiln run` and the server's containers, built on the sandbox.
  // User-defined networks: their store, address management, Linux bridges, isolation rules and embedded DNS.
  networks: ['errors', 'paths', 'sandbox', 'events'],
  // tar, layers and exporter: `docker cp`, `export` and `commit` pack and unpack a container's files.
  containers: ['errors', 'image', 'paths', 'native', 'tar', 'layers', 'cache', 'exporter', 'sandbox', 'events', 'networks'],
  // Cache import and export (BuildKit's cacheconfig.v0 in a registry, an OCI layout directory, or inline).
  'remote-cache': [...BASE, 'image', 'paths', 'native', 'tar', 'layers', 'cache', 'registry'],
  graph: ['errors', 'image', 'paths', 'parser', 'tar', 'layers', 'cache'],
  // Build records (`kiln history`): the record store, its retention, redaction and OTLP traces. Written by the
  // builder's recorder, read by the CLI and the server; it knows nothing of either.
  history: ['errors', 'image', 'paths', 'tar', 'cache'],
  // The builder runs RUN steps in the sandbox and never needs the container runtime.
  builder: [...BASE, 'image', 'paths', 'native', 'parser', 'tar', 'layers', 'cache', 'registry', 'exporter', 'sandbox', 'graph', 'remote-cache', 'history'],
  server: [
    ...BASE,
    'image',
    'paths',
    'native',
    'parser',
    'tar',
    'layers',
    'cache',
    'registry',
    'exporter',
    'sandbox',
    'containers',
    'graph',
    'remote-cache',
    'builder',
    'events',
    'networks',
    'history',
  ],
  cli: [
    ...BASE,
    'image',
    'paths',
    'native',
    'parser',
    'tar',
    'layers',
    'cache',
    'registry',
    'exporter',
    'sandbox',
    'containers',
    'graph',
    'remote-cache',
    'builder',
    'server',
    'events',
    'networks',
    'history',
  ],
};

/** The folder a path under src/ belongs to: its first directory, or the module name for a top-level file. */
function folderOf(pathInSrc: string): string {
  const parts = pathInSrc.split(sep);
  return parts.length > 1 ? parts[0]! : parts[0]!.replace(/\.(ts|js)$/, '');
}

/** Relative module specifiers of one source text. */
function specifiersOf(text: string): string[] {
  const out: string[] = [];
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])(\.{1,2}\/[^'"]+)\1/g;
  for (const m of text.matchAll(re)) out.push(m[2]!);
  return out;
}

interface Violation {
  file: string;
  from: string;
  to: string;
  spec: string;
}

/** Imports of `text` (the file `pathInSrc`) that cross into a folder its row does not list. */
function violationsOf(pathInSrc: string, text: string): Violation[] {
  const from = folderOf(pathInSrc);
  const allowed = ALLOWED[from] ?? [];
  const out: Violation[] = [];
  for (const spec of specifiersOf(text)) {
    const target = relative(SRC, resolve(SRC, dirname(pathInSrc), spec));
    const to = target.startsWith('..') ? '(outside src)' : folderOf(target);
    if (to !== from && !allowed.includes(to)) out.push({ file: pathInSrc, from, to, spec });
  }
  return out;
}

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(p));
    else if (e.name.endsWith('.ts')) out.push(relative(SRC, p));
  }
  return out;
}

test('the checker sees every form of import and flags a folder that reaches up', () => {
  const text = [
    "import { a } from '../builder/x.js';",
    "import type { B } from '../sandbox/types.js';",
    "export { c } from './local.js';",
    "import '../containers/side-effect.js';",
    "const m = await import('../cli/main.js');",
    "import { readFile } from 'node:fs';",
  ].join('\n');
  assert.equal(specifiersOf(text), ['../builder/x.js', '../sandbox/types.js', './local.js', '../containers/side-effect.js', '../cli/main.js']);
  assert.equal(
    violationsOf(join('cache', 'gc.ts'), text).map((v) => v.to),
    ['builder', 'sandbox', 'containers', 'cli'],
  );
  assert.equal(
    violationsOf(join('builder', 'x.ts'), "import { y } from '../containers/exec.js';").map((v) => v.to),
    ['containers'],
  );
  assert.equal(violationsOf(join('cli', 'main.ts'), text), []);
});

test('every folder of src/ has a row in the table', () => {
  const folders = new Set(sources(SRC).map(folderOf));
  assert.ok(folders.size > 10, `found only ${folders.size} folders under ${SRC}`);
  const missing = [...folders].filter((f) => !(f in ALLOWED));
  assert.equal(missing, [], `folders without a row in ALLOWED: ${missing.join(', ')}`);
});

test('no folder of src/ imports a folder above it', () => {
  const files = sources(SRC);
  assert.ok(files.length > 100, `found only ${files.length} source files under ${SRC}`);
  const bad = files.flatMap((f) => violationsOf(f, readFileSync(join(SRC, f), 'utf8')));
  assert.equal(
    bad.map((v) => `${v.file}: ${v.from} -> ${v.to} (${v.spec})`),
    [],
  );
});

test.run();
