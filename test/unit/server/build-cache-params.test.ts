import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseBuildQuery, withCacheDefaults } from '../../../src/server/build-params.js';
import { Query } from '../../../src/server/http-util.js';
import { parseCacheExport, parseCacheImport } from '../../../src/remote-cache/spec.js';
import { throwsCode } from '../../helpers/assert.js';

const q = (params: Record<string, string>) => new Query(new URLSearchParams(params), 32 * 1024);
const json = (v: unknown) => JSON.stringify(v);

test('cachefrom (docker build --cache-from): a JSON array, bare references are registry caches, no warning', () => {
  const r = parseBuildQuery(q({ cachefrom: json(['registry.example/app:cache', 'type=registry,ref=127.0.0.1:5000/app:buildcache']) }));
  assert.equal(r.options.cacheFrom, [
    { type: 'registry', ref: 'registry.example/app:cache' },
    { type: 'registry', ref: '127.0.0.1:5000/app:buildcache' },
  ]);
  assert.equal(r.warnings, []);
  assert.is(r.options.cacheTo, undefined);
});

test('cachefrom as the docker CLI sends it without --cache-from ([] or null) asks for nothing', () => {
  for (const v of ['[]', 'null', '[""]']) assert.is(parseBuildQuery(q({ cachefrom: v })).options.cacheFrom, undefined, v);
  assert.is(parseBuildQuery(q({})).options.cacheFrom, undefined);
});

test("kilncacheto (kiln's --cache-to through the server): each spec parsed as the flag", () => {
  const r = parseBuildQuery(q({ kilncacheto: json(['type=registry,ref=r.example/app:cache,mode=max', 'type=inline']) }));
  assert.equal(
    r.options.cacheTo?.map((c) => [c.type, c.mode, c.cacheMounts]),
    [
      ['registry', 'max', true],
      ['inline', 'min', false],
    ],
  );
});

test('a bad cachefrom or kilncacheto is refused naming the parameter and the bad value', () => {
  throwsCode(() => parseBuildQuery(q({ cachefrom: '{not json' })), 'INVALID_ARGUMENT', /query parameter cachefrom is not valid JSON/);
  throwsCode(() => parseBuildQuery(q({ cachefrom: json('a/b') })), 'INVALID_ARGUMENT', /cachefrom must be a JSON array of strings/);
  throwsCode(() => parseBuildQuery(q({ cachefrom: json([1]) })), 'INVALID_ARGUMENT', /cachefrom must be a JSON array/);
  throwsCode(() => parseBuildQuery(q({ kilncacheto: json({ type: 'registry' }) })), 'INVALID_ARGUMENT', /kilncacheto must be a JSON array/);
  throwsCode(() => parseBuildQuery(q({ kilncacheto: '[' })), 'INVALID_ARGUMENT', /query parameter kilncacheto is not valid JSON/);
  throwsCode(() => parseBuildQuery(q({ cachefrom: json(['App:latest']) })), 'INVALID_REFERENCE', /^cachefrom: ref "App:latest" is not a valid image reference/);
  throwsCode(
    () => parseBuildQuery(q({ kilncacheto: json(['type=registry,ref=a/b,modes=max']) })),
    'INVALID_ARGUMENT',
    /^kilncacheto type=registry: unknown option modes=/,
  );
  throwsCode(
    () => parseBuildQuery(q({ kilncacheto: json(['type=registry,ref=a/b,mode=all']) })),
    'INVALID_ARGUMENT',
    /^kilncacheto: mode=all must be min or max/,
  );
  throwsCode(() => parseBuildQuery(q({ kilncacheto: json(['type=gha']) })), 'NOT_IMPLEMENTED', /^kilncacheto: type=gha is not supported/);
  throwsCode(() => parseBuildQuery(q({ kilncacheto: json(['type=inline,mode=max']) })), 'INVALID_ARGUMENT', /^kilncacheto: type=inline supports mode=min only/);
});

test('a request naming a type=local cache is refused: a client must not name directories on the server', () => {
  for (const [name, spec] of [
    ['cachefrom', 'type=local,src=/etc'],
    ['kilncacheto', 'type=local,dest=/var/lib/kiln'],
    ['kilncacheto', 'type=local,dest=relative/dir,mode=max'],
  ]) {
    const ok = name === 'cachefrom' ? 'registry.example/ok:cache' : 'type=registry,ref=registry.example/ok:cache';
    const err = throwsCode(() => parseBuildQuery(q({ [name]: json([ok, spec]) })), 'INVALID_ARGUMENT');
    assert.match(err.message, new RegExp(`^${name} ${JSON.stringify(spec).replace(/[/.]/g, '\\$&')}: type=local names a directory on the server`));
    assert.match((err as { hint?: string }).hint ?? '', /type=registry,ref=/);
  }
});

test("withCacheDefaults(): the server's lists apply to a build naming none; a build's own list replaces the server's", () => {
  const defaults = {
    cacheFrom: [parseCacheImport('type=local,src=/srv/cache')],
    cacheTo: [parseCacheExport('type=local,dest=/srv/cache,mode=max')],
  };
  // The server's own caches are marked: reached with the server's logins, never the client's.
  const asOperator = <T extends object>(list: T[]) => list.map((c) => ({ ...c, operator: true }));
  const none = withCacheDefaults(parseBuildQuery(q({ t: 'app' })).options, defaults);
  assert.equal(none.cacheFrom, asOperator(defaults.cacheFrom));
  assert.equal(none.cacheTo, asOperator(defaults.cacheTo));
  assert.equal(none.tags, ['app'], 'the rest of the options are kept');

  const own = parseBuildQuery(q({ cachefrom: json(['r.example/app:cache']), kilncacheto: json(['type=inline']) })).options;
  const both = withCacheDefaults(own, defaults);
  assert.equal(both.cacheFrom, [{ type: 'registry', ref: 'r.example/app:cache' }]);
  assert.equal(
    both.cacheTo?.map((c) => c.type),
    ['inline'],
  );

  // Each list on its own: a build's cachefrom leaves the server's cache-to in place, and the other way round.
  const fromOnly = withCacheDefaults(parseBuildQuery(q({ cachefrom: json(['r.example/app:cache']) })).options, defaults);
  assert.equal(fromOnly.cacheFrom, [{ type: 'registry', ref: 'r.example/app:cache' }]);
  assert.equal(fromOnly.cacheTo, asOperator(defaults.cacheTo));
  const toOnly = withCacheDefaults(parseBuildQuery(q({ kilncacheto: json(['type=inline']) })).options, defaults);
  assert.equal(toOnly.cacheFrom, asOperator(defaults.cacheFrom));
  assert.equal(
    toOnly.cacheTo?.map((c) => c.type),
    ['inline'],
  );

  // No defaults: nothing added; the server's arrays are copies (a build cannot change them).
  assert.equal(withCacheDefaults(parseBuildQuery(q({})).options, {}).cacheFrom, undefined);
  assert.equal(withCacheDefaults(parseBuildQuery(q({})).options, undefined).cacheTo, undefined);
  assert.is.not(none.cacheFrom, defaults.cacheFrom);
});

test.run();
