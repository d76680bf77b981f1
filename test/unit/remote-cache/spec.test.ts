import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_CACHE_MOUNT_MAX_BYTES, parseByteSize, parseCacheExport, parseCacheImport } from '../../../src/remote-cache/spec.js';
import { throwsCode } from '../../helpers/assert.js';

const under = (dir: string) => (p: string) => `${dir}/${p}`;

test('--cache-from: a bare reference is a registry cache (either kind: cache manifest or inline)', () => {
  assert.equal(parseCacheImport('registry.example/app:cache'), { type: 'registry', ref: 'registry.example/app:cache' });
  assert.equal(parseCacheImport('  user/app  '), { type: 'registry', ref: 'user/app' });
  throwsCode(() => parseCacheImport('App:latest'), 'INVALID_REFERENCE', /--cache-from: ref "App:latest" is not a valid image reference/);
});

test('--cache-from type=registry takes ref= (type defaults to registry)', () => {
  assert.equal(parseCacheImport('type=registry,ref=127.0.0.1:5000/app:buildcache'), { type: 'registry', ref: '127.0.0.1:5000/app:buildcache' });
  assert.equal(parseCacheImport('ref=127.0.0.1:5000/app'), { type: 'registry', ref: '127.0.0.1:5000/app' });
  throwsCode(() => parseCacheImport('type=registry'), 'INVALID_ARGUMENT', /--cache-from "type=registry" needs ref=/);
  throwsCode(() => parseCacheImport('type=registry,ref=a/b,mode=max'), 'INVALID_ARGUMENT', /--cache-from type=registry: unknown option mode=/);
});

test('--cache-from type=local: src= resolved by the caller, tag defaults to latest', () => {
  assert.equal(parseCacheImport('type=local,src=ci-cache', under('/home/u/proj')), { type: 'local', src: '/home/u/proj/ci-cache', tag: 'latest' });
  assert.equal(parseCacheImport('type=local,src=/c,tag=v2'), { type: 'local', src: '/c', tag: 'v2' });
  throwsCode(() => parseCacheImport('type=local'), 'INVALID_ARGUMENT', /--cache-from "type=local" needs src=DIR/);
  throwsCode(() => parseCacheImport('type=local,dest=/c'), 'INVALID_ARGUMENT', /--cache-from type=local: unknown option dest=/);
});

test('--cache-from type=inline is refused: an inline cache is imported by the image reference', () => {
  const err = throwsCode(() => parseCacheImport('type=inline'), 'INVALID_ARGUMENT', /--cache-from: type=inline is an export/);
  assert.match((err as { hint?: string }).hint ?? '', /--cache-from REGISTRY\/REPOSITORY:TAG/);
});

test('--cache-to type=registry: mode, compression, ignore-error, image-manifest', () => {
  const e = parseCacheExport('type=registry,ref=r.example/app:cache,mode=max,compression=zstd,ignore-error=true,image-manifest=false');
  assert.equal(e, {
    type: 'registry',
    ref: 'r.example/app:cache',
    mode: 'max',
    compression: 'zstd',
    ignoreError: true,
    cacheMounts: true,
    cacheMountMaxBytes: DEFAULT_CACHE_MOUNT_MAX_BYTES,
    imageManifest: false,
  });
  const d = parseCacheExport('type=registry,ref=r.example/app:cache');
  assert.equal(
    { mode: d.mode, compression: d.compression, ignoreError: d.ignoreError, imageManifest: d.type === 'registry' && d.imageManifest },
    { mode: 'min', compression: undefined, ignoreError: false, imageManifest: true },
  );
  assert.is(parseCacheExport('type=registry,ref=a/b,compression=uncompressed').compression, 'none');
  throwsCode(() => parseCacheExport('type=registry,ref=a/b,mode=all'), 'INVALID_ARGUMENT', /--cache-to: mode=all must be min or max/);
  throwsCode(() => parseCacheExport('type=registry,ref=a/b,compression=lz4'), 'INVALID_ARGUMENT', /--cache-to: compression=lz4/);
  throwsCode(() => parseCacheExport('type=registry,ref=a/b,ignore-error=maybe'), 'INVALID_ARGUMENT', /--cache-to: ignore-error=maybe must be true or false/);
  throwsCode(() => parseCacheExport('type=registry,ref=a/b,oci-mediatypes=false'), 'NOT_IMPLEMENTED', /--cache-to: oci-mediatypes=false/);
  throwsCode(() => parseCacheExport('type=registry,mode=max'), 'INVALID_ARGUMENT', /--cache-to "type=registry,mode=max" needs ref=/);
});

test('--cache-to type=local: dest= resolved by the caller, tag defaults to latest', () => {
  const e = parseCacheExport('type=local,dest=out/cache,mode=max', under('/w'));
  assert.equal(e.type === 'local' && { dest: e.dest, tag: e.tag, mode: e.mode }, { dest: '/w/out/cache', tag: 'latest', mode: 'max' });
  const t = parseCacheExport('type=local,dest=/c,tag=main');
  assert.is(t.type === 'local' && t.tag, 'main');
  throwsCode(() => parseCacheExport('type=local'), 'INVALID_ARGUMENT', /--cache-to "type=local" needs dest=DIR/);
  throwsCode(() => parseCacheExport('type=local,src=/c'), 'INVALID_ARGUMENT', /--cache-to type=local: unknown option src=/);
});

test('--cache-to type=inline: mode=min only, no cache mounts', () => {
  const e = parseCacheExport('type=inline');
  assert.equal({ type: e.type, mode: e.mode, cacheMounts: e.cacheMounts }, { type: 'inline', mode: 'min', cacheMounts: false });
  parseCacheExport('type=inline,mode=min');
  throwsCode(() => parseCacheExport('type=inline,mode=max'), 'INVALID_ARGUMENT', /--cache-to: type=inline supports mode=min only/);
  throwsCode(() => parseCacheExport('type=inline,ref=a/b'), 'INVALID_ARGUMENT', /--cache-to type=inline: unknown option ref=/);
});

test('an unknown key is refused, naming the flag and the key, with the known ones as a hint', () => {
  const err = throwsCode(() => parseCacheExport('type=registry,ref=a/b,modes=max'), 'INVALID_ARGUMENT', /--cache-to type=registry: unknown option modes=/);
  assert.match((err as { hint?: string }).hint ?? '', /known: .*mode.*ref/);
  throwsCode(() => parseCacheImport('type=registry,ref=a/b,foo=1'), 'INVALID_ARGUMENT', /--cache-from type=registry: unknown option foo=/);
  throwsCode(() => parseCacheExport('type=registry,ref=a/b,justakey'), 'INVALID_ARGUMENT', /--cache-to .*"justakey" is not key=value/);
});

test('gha, s3 and azblob are NOT_IMPLEMENTED with a hint; an unknown type is INVALID_ARGUMENT', () => {
  for (const t of ['gha', 's3', 'azblob']) {
    const err = throwsCode(() => parseCacheExport(`type=${t},mode=max`), 'NOT_IMPLEMENTED', new RegExp(`--cache-to: type=${t} is not supported`));
    assert.match((err as { hint?: string }).hint ?? '', /type=registry/);
    throwsCode(() => parseCacheImport(`type=${t}`), 'NOT_IMPLEMENTED', new RegExp(`--cache-from: type=${t}`));
  }
  throwsCode(() => parseCacheExport('type=ftp,dest=x'), 'INVALID_ARGUMENT', /--cache-to: unknown cache type "ftp"/);
  throwsCode(() => parseCacheExport('registry.example/app:cache'), 'INVALID_ARGUMENT', /--cache-to "registry.example\/app:cache" needs a type/);
  throwsCode(() => parseCacheExport('mode=max,ref=a/b'), 'INVALID_ARGUMENT', /--cache-to "mode=max,ref=a\/b" needs type=/);
});

test('a key given twice is refused', () => {
  throwsCode(() => parseCacheExport('type=registry,ref=a/b,mode=min,mode=max'), 'INVALID_ARGUMENT', /--cache-to ".*": mode= given twice/);
  throwsCode(() => parseCacheImport('type=local,src=/a,src=/b'), 'INVALID_ARGUMENT', /--cache-from ".*": src= given twice/);
});

test('cache-mount-max-size takes sizes; a bad one is refused naming it', () => {
  const size = (v: string) => parseCacheExport(`type=registry,ref=a/b,cache-mount-max-size=${v}`).cacheMountMaxBytes;
  assert.is(size('512m'), 512 * 1024 ** 2);
  assert.is(size('2g'), 2 * 1024 ** 3);
  assert.is(size('1GiB'), 1024 ** 3);
  assert.is(size('100MB'), 100 * 1024 ** 2);
  assert.is(size('4096'), 4096);
  for (const bad of ['lots', '-1m', '1.5.2g', '12x', ''])
    throwsCode(() => size(bad), 'INVALID_ARGUMENT', new RegExp(`--cache-to cache-mount-max-size: ${JSON.stringify(bad).replace(/\./g, '\\.')} is not a size`));
  assert.is(parseByteSize('1k', 'x'), 1024);
});

test('cache-mounts defaults to true with mode=max and false with mode=min; an explicit value wins', () => {
  assert.is(parseCacheExport('type=registry,ref=a/b,mode=max').cacheMounts, true);
  assert.is(parseCacheExport('type=registry,ref=a/b,mode=min').cacheMounts, false);
  assert.is(parseCacheExport('type=registry,ref=a/b').cacheMounts, false);
  assert.is(parseCacheExport('type=local,dest=/c,mode=max,cache-mounts=false').cacheMounts, false);
  assert.is(parseCacheExport('type=local,dest=/c,cache-mounts=true').cacheMounts, true);
  throwsCode(() => parseCacheExport('type=local,dest=/c,cache-mounts=yes'), 'INVALID_ARGUMENT', /--cache-to: cache-mounts=yes must be true or false/);
});

test.run();
