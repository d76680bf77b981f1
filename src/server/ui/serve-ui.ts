/**
 * Serves the web page's static files (plain HTML, CSS and ES modules; no build step) from `assets/` beside this
 * module — src/server/ui/assets under tsx, dist/server/ui/assets after `npm run build` copies them. Every answer
 * carries a strict Content-Security-Policy (everything from this server, nothing inline, no other host) and a
 * content ETag; files are read once and kept in memory (the whole page is a few tens of KiB).
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { KilnError } from '../../errors.js';

const ASSETS_DIR = fileURLToPath(new URL('./assets/', import.meta.url));

/** The page's policy: scripts, styles, images and fetches from this origin only; no framing, no plugins. */
export const UI_CSP = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

let loaded: Promise<Map<string, Asset>> | undefined;

/** Reads every asset once. The names are the directory's own (no path from a request ever reaches the file system). */
function assets(): Promise<Map<string, Asset>> {
  loaded ??= (async () => {
    const out = new Map<string, Asset>();
    for (const name of await readdir(ASSETS_DIR)) {
      const type = TYPES[extname(name)];
      if (!type) continue;
      const body = await readFile(`${ASSETS_DIR}${name}`);
      out.set(name, { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` });
    }
    return out;
  })();
  return loaded;
}

/** Headers every page answer carries. */
export function securityHeaders(res: ServerResponse): void {
  res.setHeader('Content-Security-Policy', UI_CSP);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
  res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
}

/**
 * Answers `GET /ui/<name>` (`name` empty for index.html). NOT_FOUND for anything not in the asset directory, including
 * every name with a slash. Revalidation (`no-cache` + ETag) rather than long caching: a rebuilt kiln serves new files
 * at the same names, and a 304 costs one round trip on loopback.
 */
export async function serveAsset(req: IncomingMessage, res: ServerResponse, name: string): Promise<void> {
  const file = name === '' ? 'index.html' : name;
  const a = /^[a-z0-9][a-z0-9.-]*$/i.test(file) ? (await assets()).get(file) : undefined;
  if (!a) throw new KilnError('NOT_FOUND', `/ui/${name}: no such page file`);
  securityHeaders(res);
  res.setHeader('ETag', a.etag);
  res.setHeader('Cache-Control', 'no-cache');
  if (req.headers['if-none-match'] === a.etag) {
    res.writeHead(304);
    res.end();
    return;
  }
  res.writeHead(200, { 'Content-Type': a.type, 'Content-Length': a.body.length });
  res.end(req.method === 'HEAD' ? undefined : a.body);
}
