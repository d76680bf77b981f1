/**
 * The web page's routes: `/ui` → `/ui/`, its static files, and `/ui/login` (a signed-in browser, or a server
 * without a token, is simply sent on to the page; the token exchange itself happens in ui/ui-auth.ts before
 * routing). Kiln's own data endpoints the page reads live under `/kiln/v1/` (history routes).
 */
import type { Handler } from '../context.js';
import type { Route } from '../router.js';
import { serveAsset } from '../ui/serve-ui.js';

const redirect =
  (to: string): Handler =>
  async ({ res }) => {
    res.writeHead(303, { Location: to, 'Content-Length': 0 });
    res.end();
  };

export const uiRoutes: Array<Route<Handler>> = [
  {
    method: 'GET',
    pattern: '/ui',
    handler: async (ctx) => {
      // `/ui` and `/ui/` both match; the page's links are absolute, but keep one canonical address.
      const path = (ctx.req.url ?? '').split('?')[0];
      if (!path.endsWith('/')) return redirect('/ui/')(ctx);
      await serveAsset(ctx.req, ctx.res, '');
    },
  },
  { method: 'POST', pattern: '/ui/login', handler: redirect('/ui/') },
  { method: 'GET', pattern: '/ui/{name}', handler: (ctx) => serveAsset(ctx.req, ctx.res, ctx.params.name) },
];
