/**
 * kiln's commands against a remote `kiln serve` (`--host` / KILN_HOST): build streams the builder's own events
 * (`kilnevents=1`) into the same renderers as a local build; images, push, pull, tag and rmi print what their
 * local twins print. Each command module calls these from a one-line `if (remote)` branch.
 */
import { KilnError } from '../../errors.js';
import type { BuildEvent, BuildResult } from '../../builder/types.js';
import { createRenderer, type ProgressMode } from '../progress/index.js';
import { humanSince, humanSize, table } from '../human-units.js';
import type { RemoteClient } from './client.js';
import { throwIfError } from './client.js';
import { packContext } from './context-tar.js';
import { parseCacheExport, parseCacheImport } from '../../remote-cache/spec.js';
import { parseReference } from '../../image/reference.js';

export interface RemoteBuildOptions {
  contextDir: string;
  /** `-f`: a path on the client; with `contextTar`, a path inside that archive (as docker build - takes it). */
  dockerfile?: string;
  /** A context archive to send as it is (`build -` with a tar on stdin); `contextDir` is then unused. */
  contextTar?: import('node:stream').Readable;
  /** The Dockerfile's text (`-f -`), added to the packed context. */
  dockerfileText?: Buffer;
  tags?: string[];
  buildArgs?: Record<string, string>;
  labels?: Record<string, string>;
  target?: string;
  noCache?: boolean;
  pull?: boolean;
  platform?: string;
  networkMode?: string;
  extraHosts?: string[];
  /** Entitlements asked of the server (kiln's own `kilnallow` parameter; the Engine API has none). */
  allow?: string[];
  explain?: boolean;
  /** `--cache-from` specs, as Docker's `cachefrom` (a JSON array of strings). */
  cacheFrom?: string[];
  /** `--cache-to` specs, as kiln's `kilncacheto` (the Engine API has no parameter for them). */
  cacheTo?: string[];
  progress?: ProgressMode;
  quiet?: boolean;
  signal?: AbortSignal;
}

/** Sends the context, renders the remote build's events locally; resolves with the result (throws the build's error). */
export async function remoteBuild(client: RemoteClient, o: RemoteBuildOptions): Promise<BuildResult> {
  const ctx = o.contextTar
    ? { stream: o.contextTar, dockerfile: o.dockerfile ?? 'Dockerfile' }
    : await packContext(o.contextDir, o.dockerfile, { dockerfileText: o.dockerfileText });
  const q = new URLSearchParams({ dockerfile: ctx.dockerfile, kilnevents: '1' });
  for (const t of o.tags ?? []) q.append('t', t);
  if (o.buildArgs && Object.keys(o.buildArgs).length) q.set('buildargs', JSON.stringify(o.buildArgs));
  if (o.labels && Object.keys(o.labels).length) q.set('labels', JSON.stringify(o.labels));
  if (o.target) q.set('target', o.target);
  if (o.noCache) q.set('nocache', '1');
  if (o.pull) q.set('pull', '1');
  if (o.platform) q.set('platform', o.platform);
  if (o.networkMode) q.set('networkmode', o.networkMode);
  if (o.extraHosts?.length) q.set('extrahosts', o.extraHosts.join(','));
  if (o.allow?.length) q.set('kilnallow', o.allow.join(','));
  if (o.explain) q.set('kilnexplain', '1');
  if (o.cacheFrom?.length) q.set('cachefrom', JSON.stringify(o.cacheFrom));
  if (o.cacheTo?.length) q.set('kilncacheto', JSON.stringify(o.cacheTo));
  const renderer = createRenderer(o.quiet ? 'quiet' : (o.progress ?? 'auto'), process.stderr, { explain: o.explain });
  let result: BuildResult | undefined;
  try {
    const upload = client.stream(
      {
        method: 'POST',
        path: '/build',
        query: q,
        body: ctx.stream,
        headers: { 'Content-Type': 'application/x-tar', ...cacheRegistryConfig(o.cacheFrom ?? [], o.cacheTo ?? []) },
        signal: o.signal,
      },
      (m) => {
        throwIfError(m);
        const e = m.kiln as BuildEvent | undefined;
        if (!e) return;
        if (e.type === 'build-done') result = e.result;
        renderer.onEvent(e);
      },
    );
    // The upload's end is the server's answer; a packing failure (a file vanished) destroys the request body.
    await upload;
  } catch (err) {
    renderer.close(err);
    throw err;
  }
  renderer.close();
  if (!result) throw new KilnError('REMOTE_FAILED', 'the server ended the build without a result');
  return result;
}

interface Summary {
  Id: string;
  RepoTags: string[] | null;
  Created: number;
  Size: number;
}

function splitTag(t: string): [string, string] {
  const i = t.lastIndexOf(':');
  return i > t.lastIndexOf('/') ? [t.slice(0, i), t.slice(i + 1)] : [t, '<none>'];
}

/** `kiln --host … images [REF]`. */
export async function remoteImages(
  client: RemoteClient,
  reference: string | undefined,
  opts: { quiet?: boolean; trunc?: boolean; format?: string },
): Promise<void> {
  const q = new URLSearchParams();
  if (reference) q.set('filters', JSON.stringify({ reference: { [reference]: true } }));
  const list = await client.json<Summary[]>({ path: '/images/json', query: q });
  const rows: Array<{ repository: string; tag: string; id: string; created: string; size: number }> = [];
  for (const img of list.sort((a, b) => b.Created - a.Created)) {
    const created = new Date(img.Created * 1000).toISOString();
    const id = opts.trunc === false ? img.Id : img.Id.replace(/^sha256:/, '').slice(0, 12);
    const tags = img.RepoTags?.length ? img.RepoTags : [];
    if (!tags.length) rows.push({ repository: '<none>', tag: '<none>', id, created, size: img.Size });
    for (const t of tags) {
      const [repository, tag] = splitTag(t);
      rows.push({ repository, tag, id, created, size: img.Size });
    }
  }
  if (opts.quiet) process.stdout.write(rows.map((r) => `${r.id}\n`).join(''));
  else if (opts.format === 'json')
    for (const r of rows)
      process.stdout.write(
        `${JSON.stringify({ Repository: r.repository, Tag: r.tag, ID: r.id, CreatedAt: r.created, CreatedSince: humanSince(r.created), Size: humanSize(r.size), SizeBytes: r.size })}\n`,
      );
  else
    process.stdout.write(
      table([['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE'], ...rows.map((r) => [r.repository, r.tag, r.id, humanSince(r.created), humanSize(r.size)])]),
    );
}

/**
 * X-Registry-Config for a build's registry caches: KILN_REGISTRY_USER / KILN_REGISTRY_PASSWORD for each registry a
 * `--cache-from`/`--cache-to` ref names (the server uses a build's X-Registry-Config for its cache import and export,
 * and for FROM pulls from the same registries); nothing when the variables are unset or no registry cache is named.
 */
export function cacheRegistryConfig(cacheFrom: string[], cacheTo: string[], env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const username = env.KILN_REGISTRY_USER;
  if (!username) return {};
  const hosts = new Set<string>();
  for (const c of [...cacheFrom.map((s) => parseCacheImport(s)), ...cacheTo.map((s) => parseCacheExport(s))])
    if (c.type === 'registry') hosts.add(parseReference(c.ref).domain);
  if (hosts.size === 0) return {};
  const auth = { username, password: env.KILN_REGISTRY_PASSWORD ?? '' };
  const config = Object.fromEntries([...hosts].map((h) => [h, auth]));
  return { 'X-Registry-Config': Buffer.from(JSON.stringify(config)).toString('base64url') };
}

/** Registry credentials for the server to use, from KILN_REGISTRY_USER / KILN_REGISTRY_PASSWORD (never the server's own). */
function registryAuthHeader(): Record<string, string> {
  const username = process.env.KILN_REGISTRY_USER;
  const password = process.env.KILN_REGISTRY_PASSWORD;
  const auth = username ? { username, password: password ?? '' } : {};
  return { 'X-Registry-Auth': Buffer.from(JSON.stringify(auth)).toString('base64url') };
}

function hasTag(name: string): boolean {
  return name.lastIndexOf(':') > name.lastIndexOf('/');
}

/** Prints a transfer's JSON progress lines as plain lines (`abc123: Pushed`), skipping byte counts. */
function printProgress(m: Record<string, unknown>, quiet: boolean): void {
  throwIfError(m);
  if (quiet || typeof m.status !== 'string') return;
  if (m.progressDetail && typeof (m.progressDetail as { current?: number }).current === 'number') return;
  process.stdout.write(m.id ? `${m.id}: ${m.status}\n` : `${m.status}\n`);
}

/** `kiln --host … push REF`: the server pushes its image; prints the digest line. */
export async function remotePush(client: RemoteClient, ref: string, opts: { quiet?: boolean }): Promise<void> {
  const at = ref.indexOf('@');
  const name = at >= 0 ? ref.slice(0, at) : ref;
  const [repo, tag] = hasTag(name) ? splitTag(name) : [name, 'latest'];
  let digest = '';
  await client.stream({ method: 'POST', path: `/images/${repo}/push`, query: new URLSearchParams({ tag }), headers: registryAuthHeader() }, (m) => {
    const aux = m.aux as { Digest?: string } | undefined;
    if (aux?.Digest) digest = aux.Digest;
    printProgress(m, Boolean(opts.quiet));
  });
  if (opts.quiet) process.stdout.write(`${digest}\n`);
}

/** `kiln --host … pull REF`. */
export async function remotePull(client: RemoteClient, ref: string, opts: { quiet?: boolean; platform?: string }): Promise<void> {
  const q = new URLSearchParams();
  const at = ref.indexOf('@');
  if (at >= 0) {
    q.set('fromImage', ref.slice(0, at));
    q.set('tag', ref.slice(at + 1));
  } else {
    const [repo, tag] = hasTag(ref) ? splitTag(ref) : [ref, 'latest'];
    q.set('fromImage', repo);
    q.set('tag', tag);
  }
  if (opts.platform) q.set('platform', opts.platform);
  await client.stream({ method: 'POST', path: '/images/create', query: q, headers: registryAuthHeader() }, (m) => printProgress(m, Boolean(opts.quiet)));
  if (opts.quiet) process.stdout.write(`${ref}\n`);
}

/** `kiln --host … tag SOURCE TARGET`. */
export async function remoteTag(client: RemoteClient, source: string, target: string): Promise<void> {
  const [repo, tag] = hasTag(target) ? splitTag(target) : [target, 'latest'];
  const res = await client.request({ method: 'POST', path: `/images/${source}/tag`, query: new URLSearchParams({ repo, tag }) });
  if ((res.statusCode ?? 500) >= 300) throw await (await import('./client.js')).remoteError(res);
  res.resume();
}

/** `kiln --host … rmi NAME…`: prints Untagged/Deleted lines as the server reports them. */
export async function remoteRmi(client: RemoteClient, names: string[], opts: { force?: boolean }): Promise<void> {
  for (const n of names) {
    const q = new URLSearchParams();
    if (opts.force) q.set('force', '1');
    const out = await client.json<Array<{ Untagged?: string; Deleted?: string }>>({ method: 'DELETE', path: `/images/${n}`, query: q });
    for (const r of out) process.stdout.write(r.Untagged ? `Untagged: ${r.Untagged}\n` : `Deleted: ${r.Deleted}\n`);
  }
}
