/**
 * Image endpoints: list, inspect, tag, remove, push, pull (`/images/create`), save (`/get`) and load. Names come
 * from the path unescaped and are checked against the reference grammar before the store sees them.
 */
import { KilnError } from '../../errors.js';
import { forApiVersion } from '../image-shapes.js';
import type { Handler } from '../context.js';
import { readJsonBody, sendJson } from '../http-util.js';
import type { AuthConfig } from '../registry-auth.js';
import { checkImageName } from '../image-name.js';
import { readRegistryAuth } from '../registry-auth.js';
import { startJsonStream } from '../json-stream.js';
import { errorMessage } from '../http-util.js';
import type { ImageSummary } from '../backend.js';
import { checkFilterKeys, IMAGE_LIST_FILTERS, imagePruneFilter, matchLabels, parseFilters, parseTimestamp, type Filters } from '../filters.js';

/**
 * `GET /images/json` filters, as dockerd's: `reference` (`docker images REPO[:TAG]`, globs), `dangling`, `label`,
 * `before`/`since` (created before/after the image named), `until` (a timestamp); another key is a 400, never
 * ignored. `lookup` resolves an image named by before/since (an unknown one is a 404, as dockerd).
 */
async function applyFilters(list: ImageSummary[], f: Filters, lookup: (name: string) => Promise<{ Created: string }>): Promise<ImageSummary[]> {
  checkFilterKeys(f, IMAGE_LIST_FILTERS);
  const values = (k: string): string[] => f.get(k) ?? [];
  let out = list;
  const refs = values('reference');
  if (refs.length) {
    const pats = refs.map((r) => globToRegExp(r.includes(':') || r.includes('@') ? r : `${r}:*`));
    // As dockerd: an image stays when one of its tags matches, and lists only the matching tags.
    const matches = (t: string) => pats.some((p) => p.test(t));
    out = out.map((i) => ({ ...i, RepoTags: i.RepoTags.filter(matches) })).filter((i) => i.RepoTags.length > 0);
  }
  const dangling = values('dangling');
  for (const d of dangling) if (!/^(1|0|true|false)$/i.test(d)) throw new KilnError('INVALID_ARGUMENT', `invalid filter 'dangling=${d}'`);
  if (dangling.length) {
    const want = /^(1|true)$/i.test(dangling[0]!);
    out = out.filter((i) => (i.RepoTags.length === 0) === want);
  }
  out = out.filter((i) => matchLabels(f, 'label', i.Labels ?? {}));
  // Compared at the configs' full precision (a list row's Created is whole seconds), as dockerd compares times.
  const createdOf = async (name: string) => Date.parse((await lookup(name)).Created);
  for (const key of ['before', 'since'] as const) {
    for (const name of values(key)) {
      const edge = await createdOf(checkImageName(name));
      const kept: ImageSummary[] = [];
      for (const i of out) {
        const t = await createdOf(i.Id);
        if (key === 'before' ? t < edge : t > edge) kept.push(i);
      }
      out = kept;
    }
  }
  for (const v of values('until')) {
    const until = parseTimestamp(v);
    if (until === undefined) throw new KilnError('INVALID_ARGUMENT', `invalid filter 'until=${v}'`);
    out = out.filter((i) => i.Created * 1000 <= until);
  }
  return out;
}

/** True when a reference carries a tag (a colon after its last slash). */
export function hasTag(name: string): boolean {
  return name.lastIndexOf(':') > name.lastIndexOf('/');
}

function globToRegExp(glob: string): RegExp {
  const src = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '[^/]*')
    .replace(/\?/g, '.');
  return new RegExp(`^${src}$`);
}

/** Whether the request's API version (the `/v1.NN/` prefix; none: the current one) is at least `min`. */
function apiAtLeast(apiVersion: string | undefined, min: number): boolean {
  if (!apiVersion) return true;
  const [major, minor] = apiVersion.split('.').map(Number);
  return (major ?? 0) > 1 || (minor ?? 0) >= min;
}

export const listImages: Handler = async ({ res, state, query, signal, apiVersion }) => {
  // `manifests=1` (API 1.47, Docker 25+): each multi-platform image lists its platform manifests.
  const manifests = query.bool('manifests') && apiAtLeast(apiVersion, 47);
  sendJson(
    res,
    200,
    (
      await applyFilters(await state.backend.images.list({ signal, manifests }), parseFilters(query.str('filters')), (name) =>
        state.backend.images.inspect(name, { signal }),
      )
    ).map((i) => forApiVersion(i, apiVersion)),
  );
};

export const inspectImage: Handler = async ({ res, state, params, signal, apiVersion }) => {
  sendJson(res, 200, forApiVersion(await state.backend.images.inspect(checkImageName(params.name), { signal }), apiVersion));
};

export const tagImage: Handler = async ({ res, state, params, query, signal }) => {
  const source = checkImageName(params.name);
  const repo = query.str('repo');
  if (!repo) throw new KilnError('INVALID_ARGUMENT', 'repo is required');
  const target = checkImageName(query.str('tag') ? `${repo}:${query.str('tag')}` : repo);
  await state.backend.images.tag(source, target, { signal });
  res.writeHead(201).end();
};

export const removeImage: Handler = async ({ res, state, params, query, signal }) => {
  const out = await state.backend.images.remove(checkImageName(params.name), { force: query.bool('force'), noPrune: query.bool('noprune'), signal });
  sendJson(res, 200, out);
};

export const pushImage: Handler = async ({ req, res, state, params, query, signal, id }) => {
  if (!state.backend.registry) throw new KilnError('NOT_IMPLEMENTED', 'push is not available on this server');
  const name = checkImageName(params.name);
  const tag = query.str('tag');
  const ref = checkImageName(tag && !name.includes('@') && !hasTag(name) ? `${name}:${tag}` : name);
  const auth = readRegistryAuth(req);
  // A missing local image is a plain 404 before any stream starts, as dockerd answers.
  await state.backend.images.inspect(ref, { signal });
  const out = startJsonStream(res);
  out.write({ status: `The push refers to repository [${ref.replace(/[:@][^/]*$/, '')}]` });
  const started = Date.now();
  try {
    const r = await state.backend.registry.push(ref, { auth, signal, onProgress: (m) => out.write(m) });
    out.write({ status: `${r.tag}: digest: ${r.digest} size: ${r.size}` });
    out.write({ progressDetail: {}, aux: { Tag: r.tag, Digest: r.digest, Size: r.size } });
    state.log.info('push', { id, image: ref, outcome: 'ok', durationMs: Date.now() - started });
  } catch (err) {
    const message = errorMessage(err);
    out.write({ errorDetail: { message }, error: message });
    state.log.info('push', { id, image: ref, outcome: 'failed', error: (err as KilnError)?.code ?? 'INTERNAL', durationMs: Date.now() - started });
  }
  out.end();
};

export const createImage: Handler = async ({ req, res, state, query, signal, id }) => {
  if (query.str('fromSrc')) throw new KilnError('NOT_IMPLEMENTED', 'importing a rootfs tarball (fromSrc) is not supported; use `docker load`');
  const from = query.str('fromImage');
  if (!from) throw new KilnError('INVALID_ARGUMENT', 'fromImage is required');
  if (!state.backend.registry) throw new KilnError('NOT_IMPLEMENTED', 'pull is not available on this server');
  const tag = query.str('tag');
  const ref = checkImageName(tag ? (tag.startsWith('sha256:') ? `${from}@${tag}` : `${from}:${tag}`) : from);
  const auth = readRegistryAuth(req);
  const out = startJsonStream(res);
  const started = Date.now();
  try {
    const r = await state.backend.registry.pull(ref, { auth, signal, platform: query.str('platform'), onProgress: (m) => out.write(m) });
    out.write({ status: `Digest: ${r.digest}` });
    out.write({ status: `Status: Downloaded newer image for ${r.ref}` });
    state.log.info('pull', { id, image: ref, outcome: 'ok', durationMs: Date.now() - started });
  } catch (err) {
    const message = errorMessage(err);
    out.write({ errorDetail: { message }, error: message });
    state.log.info('pull', { id, image: ref, outcome: 'failed', error: (err as KilnError)?.code ?? 'INTERNAL', durationMs: Date.now() - started });
  }
  out.end();
};

export const saveImages: Handler = async ({ res, state, params, query, signal }) => {
  const save = state.backend.images.save;
  if (!save) throw new KilnError('NOT_IMPLEMENTED', 'save is not available on this server');
  const names = (params.name ? [params.name] : query.all('names')).map(checkImageName);
  if (!names.length) throw new KilnError('INVALID_ARGUMENT', 'names is required');
  // Resolve first so a missing image is a clean 404 before the tar stream starts.
  for (const n of names) await state.backend.images.inspect(n, { signal });
  res.writeHead(200, { 'Content-Type': 'application/x-tar' });
  await save.call(state.backend.images, names, res, { signal });
  res.end();
};

export const loadImages: Handler = async ({ req, res, state, query, signal }) => {
  const load = state.backend.images.load;
  if (!load) throw new KilnError('NOT_IMPLEMENTED', 'load is not available on this server');
  const loaded = await load.call(state.backend.images, req, { signal });
  const out = startJsonStream(res);
  // `quiet` only silences progress bars in dockerd; the "Loaded image" lines are sent either way.
  void query;
  for (const l of loaded) out.write({ stream: l.startsWith('sha256:') ? `Loaded image ID: ${l}\n` : `Loaded image: ${l}\n` });
  out.end();
};

/** `POST /auth` (`docker login` against the server): the server checks the credentials with the registry; it keeps nothing. */
export const login: Handler = async ({ req, res, state, signal }) => {
  const login = state.backend.registry?.login;
  if (!login) throw new KilnError('NOT_IMPLEMENTED', 'login is not available on this server');
  const body = await readJsonBody<AuthConfig>(req, state.limits.maxJsonBytes);
  if (!body?.username || !body.password) throw new KilnError('INVALID_ARGUMENT', 'username and password are required');
  await login.call(state.backend.registry, { username: body.username, password: body.password, serveraddress: body.serveraddress }, { signal });
  sendJson(res, 200, { Status: 'Login Succeeded', IdentityToken: '' });
};

export const imageHistory: Handler = async ({ res, state, params, signal }) => {
  const history = state.backend.images.history;
  if (!history) throw new KilnError('NOT_IMPLEMENTED', 'history is not available on this server');
  sendJson(res, 200, await history.call(state.backend.images, checkImageName(params.name), { signal }));
};

/**
 * `docker image prune [-a] [--filter until=… --filter label=…]`: untagged images (`-a`: every image no container
 * uses, running or not) that the filters select, as dockerd's image prune.
 */
export const pruneImages: Handler = async ({ res, state, signal, query }) => {
  const filters = parseFilters(query.str('filters'));
  imagePruneFilter(filters); // a bad filter is a 400 before anything goes
  const prune = state.backend.images.prune;
  if (!prune) throw new KilnError('NOT_IMPLEMENTED', 'image prune is not available on this server');
  sendJson(res, 200, await prune.call(state.backend.images, { signal, filters }));
};
