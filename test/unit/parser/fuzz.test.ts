/**
 * Seeded mutation fuzzing: thousands of damaged Dockerfiles (from the golden and conformance cases) must each
 * give a result or a KilnError — never another exception, never a hang. Same for the lexer and .dockerignore.
 * The seed is fixed so a failure reproduces; KILN_FUZZ_SEED and KILN_FUZZ_N explore further.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isKilnError } from '../../../src/errors.js';
import { dockerignoreMatcher } from '../../../src/builder/dockerignore.js';
import { createStageScope, expandInstruction, outlineDockerfile, parseDockerfile, parseDockerfileAll, processWords } from '../../../src/parser/index.js';
import { CONFORMANCE_CASES } from '../../helpers/shared-data.js';

const SEED = Number(process.env.KILN_FUZZ_SEED ?? 20261123);
const N = Number(process.env.KILN_FUZZ_N ?? 3000);

/** mulberry32: small, fast, deterministic. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const GOLDEN = fileURLToPath(new URL('../../fixtures/dockerfiles/', import.meta.url));
const CASES = `${CONFORMANCE_CASES}/`;
const corpus: string[] = [
  ...readdirSync(GOLDEN)
    .filter((d) => !d.startsWith('invalid-'))
    .map((d) => readFileSync(`${GOLDEN}${d}/Dockerfile`, 'utf8')),
  ...readdirSync(CASES)
    .filter((d) => existsSync(`${CASES}${d}/context/Dockerfile`))
    .map((d) => readFileSync(`${CASES}${d}/context/Dockerfile`, 'utf8')),
];

const PIECES = [
  '\\',
  '`',
  '"',
  "'",
  '$',
  '${',
  '}',
  '{',
  ':',
  '-',
  '+',
  '?',
  '#',
  '%',
  '/',
  '<<',
  '<<-',
  'EOF',
  '=',
  '[',
  ']',
  ',',
  '\n',
  '\t',
  ' ',
  '--',
  '--mount=',
  '--from=',
  'type=',
  'FROM ',
  'RUN ',
  'COPY ',
  'ONBUILD ',
  'ARG ',
  'ENV ',
  'AS ',
  '\\\n',
  '# escape=`\n',
  '\r',
  '\u00e9',
  '0',
  '1',
];

function mutate(text: string, r: () => number): string {
  let s = text;
  const ops = 1 + Math.floor(r() * 4);
  for (let k = 0; k < ops; k++) {
    const pos = Math.floor(r() * (s.length + 1));
    const op = Math.floor(r() * 6);
    if (op === 0) s = s.slice(0, pos) + s.slice(pos + 1 + Math.floor(r() * 8));
    else if (op <= 2) s = s.slice(0, pos) + PIECES[Math.floor(r() * PIECES.length)] + s.slice(pos);
    else if (op === 3) s = s.slice(0, pos);
    else {
      const lines = s.split('\n');
      const i = Math.floor(r() * lines.length);
      const j = Math.floor(r() * lines.length);
      if (op === 4) lines.splice(j, 0, lines[i]!);
      else [lines[i], lines[j]] = [lines[j]!, lines[i]!];
      s = lines.join('\n');
    }
  }
  return s;
}

function acceptable(fn: () => unknown, input: string): 'ok' | 'error' {
  try {
    fn();
    return 'ok';
  } catch (err) {
    if (isKilnError(err)) return 'error';
    throw new Error(`non-KilnError for input ${JSON.stringify(input)}: ${(err as Error).stack}`);
  }
}

test(`${N} mutated Dockerfiles each parse, outline and expand or fail with a KilnError`, () => {
  assert.ok(corpus.length > 50);
  const r = rng(SEED);
  const tally = { ok: 0, error: 0 };
  for (let n = 0; n < N; n++) {
    const input = mutate(corpus[Math.floor(r() * corpus.length)]!, r);
    const outcome = acceptable(() => {
      const all = parseDockerfileAll(input, { buildArgs: { A: '1' } });
      for (const e of all.errors) assert.ok(e.loc && e.loc.line >= 1, 'every error has a line');
      const df = parseDockerfile(input, { buildArgs: { A: '1' } });
      outlineDockerfile(df);
      const scope = createStageScope({ globalArgs: df.globalArgs, buildArgs: df.buildArgs, baseEnv: ['HOME=/root'], escape: df.directives.escape });
      for (const ins of df.stages[df.targetIndex]!.instructions) scope.dispatch(expandInstruction(ins, scope));
    }, input);
    tally[outcome]++;
  }
  // Both outcomes must be common, or the mutations are too weak (all ok) or too strong (all errors).
  assert.ok(tally.ok > N / 20 && tally.error > N / 20, JSON.stringify(tally));
});

test('random words through the shell lexer give a string or a KilnError', () => {
  const r = rng(SEED + 1);
  for (let n = 0; n < N; n++) {
    let w = '';
    const len = Math.floor(r() * 12);
    for (let i = 0; i < len; i++) w += PIECES[Math.floor(r() * PIECES.length)]! + (r() < 0.3 ? 'A' : '');
    acceptable(() => processWords(w, { A: 'x y', B: '' }, { escape: r() < 0.5 ? '\\' : '`' }), w);
  }
});

test('random .dockerignore patterns compile and match, or fail with a KilnError', () => {
  const r = rng(SEED + 2);
  const chars = ['*', '**', '?', '[', ']', '^', '-', '\\', '!', '/', 'a', 'b', '.', ' '];
  for (let n = 0; n < N; n++) {
    let p = '';
    const len = 1 + Math.floor(r() * 8);
    for (let i = 0; i < len; i++) p += chars[Math.floor(r() * chars.length)];
    acceptable(() => {
      const m = dockerignoreMatcher([p, 'x'])!;
      m.matches('a/b.c');
      m.matches('a');
    }, p);
  }
});

test.run();
