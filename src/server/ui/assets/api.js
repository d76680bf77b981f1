// The page's only way to the server: same-origin fetches of kiln's /kiln/v1/ API. The session cookie goes along
// by itself (same origin); a 401 means the session ended, so the page reloads into the login form.
const BASE = '/kiln/v1';

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function check(res) {
  if (res.ok) return res;
  if (res.status === 401) {
    location.reload();
  }
  let message = `${res.status} ${res.statusText}`;
  try {
    const body = await res.json();
    if (body && body.message) message = body.message;
  } catch {
    // not JSON
  }
  throw new ApiError(res.status, message);
}

export async function getJson(path, opts = {}) {
  const res = await check(await fetch(`${BASE}${path}`, { headers: { Accept: 'application/json' }, signal: opts.signal }));
  return res.json();
}

export async function getText(path, opts = {}) {
  const res = await check(await fetch(`${BASE}${path}`, { signal: opts.signal }));
  return res.text();
}

export async function del(path) {
  await check(await fetch(`${BASE}${path}`, { method: 'DELETE' }));
}

/** The builds, newest first. */
export async function listBuilds(opts) {
  // The list needs each step's kind and status only: the summary form is a fraction of whole records.
  const body = await getJson('/history?summary=1', opts);
  // A bare array of records, or an object holding one (a paginated answer).
  return Array.isArray(body) ? body : (body.records ?? body.builds ?? []);
}
export const getBuild = (id, opts) => getJson(`/history/${encodeURIComponent(id)}`, opts);
export const getDockerfile = (id, opts) => getText(`/history/${encodeURIComponent(id)}/dockerfile`, opts);
export const getLayers = (id, opts) => getJson(`/history/${encodeURIComponent(id)}/layers`, opts);

/**
 * Opens a step's log as a stream: returns a reader of decoded text chunks. The body is read only as the caller
 * pulls, so a 1 GiB log costs what the page shows, not what the server holds.
 */
export async function openLog(id, step, opts = {}) {
  const res = await check(await fetch(`${BASE}/history/${encodeURIComponent(id)}/logs?step=${step}`, { signal: opts.signal }));
  return res.body.pipeThrough(new TextDecoderStream()).getReader();
}
