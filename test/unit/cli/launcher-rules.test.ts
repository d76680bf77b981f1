/**
 * native/launcher.c and src/cli/daemon/identity.ts decide the same thing (which daemon serves an invocation, or
 * why none does). identity.ts's LAUNCHER_RULES is the one table of those rules; this test reads launcher.c's
 * source text (no compiler, no built launcher) and fails when a list, a skip rule, a constant or the hash there
 * differs from the table. Anything in launcher.c's rule code it cannot read fails too, so a rewrite of that
 * code has to come with a rewrite of this reader.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LAUNCHER_RULES, daemonTargetFor } from '../../../src/cli/daemon/identity.js';
import { REPO } from '../../helpers/kiln-cli.js';

const SOURCE = readFileSync(join(REPO, 'native/launcher.c'), 'utf8');

/** The body of the C function whose definition starts with `signature`, up to its closing brace in column 0. */
function cFunction(signature: string): string {
  const start = SOURCE.indexOf(signature);
  assert.ok(start >= 0, `launcher.c defines ${signature}`);
  const end = SOURCE.indexOf('\n}', start);
  return SOURCE.slice(start, end + 2);
}

function cStringArray(name: string): string[] {
  const m = new RegExp(`static const char \\*const ${name}\\[\\] = \\{([^}]*)\\};`).exec(SOURCE);
  assert.ok(m, `launcher.c declares ${name}[]`);
  const items = m![1]!
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  assert.is(items.at(-1), 'NULL', `${name}[] ends with NULL`);
  return items.slice(0, -1).map((s) => {
    const q = /^"([^"\\]*)"$/.exec(s);
    assert.ok(q, `${name}[] holds only plain string literals, not ${s}`);
    return q![1]!;
  });
}

type Rule = { exact: string[]; prefix: string[]; strictPrefix: string[]; reason: string };

/** One `if (COND) return "REASON";` of target_for's argument loop, as exact and prefix matches. */
function cSkipRule(cond: string, reason: string): Rule {
  const rule: Rule = { exact: [], prefix: [], strictPrefix: [], reason };
  for (const term of cond.split('||').map((t) => t.trim())) {
    let m: RegExpExecArray | null;
    if ((m = /^!strcmp\(a, "([^"]*)"\)$/.exec(term))) rule.exact.push(m[1]!);
    else if ((m = /^!strncmp\(a, "([^"]*)", (\d+)\)$/.exec(term))) {
      assert.is(Number(m[2]), m[1]!.length, `strncmp length matches "${m[1]}"`);
      rule.prefix.push(m[1]!);
    } else if ((m = /^\(!strncmp\(a, "([^"]*)", (\d+)\) && strlen\(a\) > (\d+)\)$/.exec(term))) {
      assert.is(Number(m[2]), m[1]!.length, `strncmp length matches "${m[1]}"`);
      assert.is(Number(m[3]), m[1]!.length, `strlen bound matches "${m[1]}"`);
      rule.strictPrefix.push(m[1]!);
    } else assert.unreachable(`launcher.c: cannot read the skip condition \`${term}\` (update this test's reader)`);
  }
  return rule;
}

function cArgLoop(): { rules: Rule[]; body: string } {
  const fn = cFunction('static const char *target_for(');
  const loop = /for \(int i = 0; i < argc; i\+\+\) \{\n([\s\S]*?)\n  \}\n/.exec(fn);
  assert.ok(loop, 'target_for() has its argument loop');
  const rules: Rule[] = [];
  for (const line of loop![1]!.split('\n').map((l) => l.trim())) {
    const m = /^if \((.*)\) return "([^"]*)";$/.exec(line);
    if (m) rules.push(cSkipRule(m[1]!, m[2]!));
    else if (/return/.test(line)) assert.unreachable(`launcher.c: cannot read \`${line}\` (update this test's reader)`);
  }
  return { rules, body: loop![1]! };
}

const cDecide = (rules: Rule[], a: string) =>
  rules.find((r) => r.exact.includes(a) || r.prefix.some((p) => a.startsWith(p)) || r.strictPrefix.some((p) => a.startsWith(p) && a.length > p.length))?.reason;

/** identity.ts's decision for one word after `build`, through its public function (not the table). */
const tsDecide = (a: string) => {
  const t = daemonTargetFor(['build', a], { KILN_ROOT: '/r' }, '/', 'b');
  return 'skip' in t ? t.skip : undefined;
};

test('launcher.c lists the same daemon-relevant and client-only variables as LAUNCHER_RULES', () => {
  assert.equal(cStringArray('DAEMON_ENV'), [...LAUNCHER_RULES.daemonEnv]);
  assert.equal(cStringArray('CLIENT_ONLY_KILN_ENV'), [...LAUNCHER_RULES.clientOnlyKilnEnv]);
  const relevant = cFunction('static int daemon_relevant(');
  const m = /len >= (\d+) && memcmp\(entry, "([^"]*)", (\d+)\) == 0 && !in_list\(entry, len, CLIENT_ONLY_KILN_ENV\)/.exec(relevant);
  assert.ok(m, 'daemon_relevant() tests a prefix and the client-only list');
  assert.is(m![2], LAUNCHER_RULES.kilnEnvPrefix);
  assert.is(Number(m![1]), LAUNCHER_RULES.kilnEnvPrefix.length);
  assert.is(Number(m![3]), LAUNCHER_RULES.kilnEnvPrefix.length);
});

test('launcher.c turns the daemon off for the same KILN_DAEMON values', () => {
  const values = [...cFunction('static int disabled(').matchAll(/strcasecmp\(v, "([^"]*)"\)/g)].map((m) => m[1]!);
  assert.equal(values.sort(), [...LAUNCHER_RULES.disabledValues].sort());
  assert.match(cFunction('static const char *target_for('), /if \(disabled\(getenv\("KILN_DAEMON"\)\)\) return "KILN_DAEMON disables it";/);
});

test('launcher.c skips the same arguments for the same reasons, in the same order', () => {
  const { rules, body } = cArgLoop();
  assert.equal(
    rules.map((r) => r.reason),
    LAUNCHER_RULES.skipArgs.map((r) => r.reason),
  );
  // Compared as behaviour over every word either side names (and its neighbours), so equivalent spellings agree.
  const named = [...rules.flatMap((r) => [...r.exact, ...r.prefix, ...r.strictPrefix]), ...LAUNCHER_RULES.skipArgs.flatMap((r) => [...r.exact, ...r.prefix])];
  const words = new Set(['.', 'build', '-t', '--tag=x', '-f', 'Dockerfile', '--', '-x']);
  for (const w of named) for (const v of [w, `${w}x`, `${w}-`, w.slice(0, -1)]) if (v && !v.startsWith(LAUNCHER_RULES.rootFlag)) words.add(v);
  for (const w of words) assert.is(cDecide(rules, w), tsDecide(w), `the word ${JSON.stringify(w)}`);
  // The root option is read before the skip rules, in both spellings.
  const flag = LAUNCHER_RULES.rootFlag;
  assert.ok(body.includes(`if (!strcmp(a, "${flag}")) { root = i + 1 < argc ? args[++i] : NULL; continue; }`), `launcher.c reads ${flag} DIR`);
  assert.ok(body.includes(`if (!strncmp(a, "${flag}=", ${flag.length + 1})) { root = a + ${flag.length + 1}; continue; }`), `launcher.c reads ${flag}=DIR`);
  assert.ok(body.indexOf(`"${flag}"`) < body.indexOf('return'), `${flag} comes before the skip rules`);
  assert.match(
    cFunction('static const char *target_for('),
    new RegExp(
      `if \\(!command \\|\\| \\(${LAUNCHER_RULES.commands.map((c) => `strcmp\\(command, "${c}"\\)`).join(' && ')}\\)\\) return "not a build or push";`,
    ),
  );
});

test('launcher.c bounds the socket path and hashes the identity as identity.ts does', () => {
  assert.is(Number(/#define MAX_SOCKET_PATH (\d+)/.exec(SOURCE)?.[1]), LAUNCHER_RULES.maxSocketPath);
  const hash = cFunction('static void identity_hash(');
  const h = LAUNCHER_RULES.hash;
  const hex = (n: number) => `0x${(n >>> 0).toString(16).padStart(8, '0')}u`;
  const seed = /uint32_t a = (0x[0-9a-f]{8}u), b = (0x[0-9a-f]{8}u) \^ (0x[0-9a-f]{8}u);/.exec(hash);
  assert.ok(seed, 'identity_hash() seeds two lanes');
  assert.is(seed![1], hex(h.seedA));
  assert.is(hex(parseInt(seed![2]!, 16) ^ parseInt(seed![3]!, 16)), hex(h.seedB));
  assert.ok(hash.includes(`a = (a ^ c) * ${hex(h.primeA)};`), 'lane a multiplies by primeA');
  assert.ok(hash.includes(`b = ((b ^ c) * ${hex(h.primeB)}) ^ (b >> ${h.shiftB});`), 'lane b multiplies by primeB and folds shiftB');
});

test.run();
