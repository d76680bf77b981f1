/** Container endpoints (filled in by containers work); attach is an upgrade, handled in attach.ts. */
import type { Handler } from '../context.js';
import type { Route } from '../router.js';

export const containerRoutes: Array<Route<Handler>> = [];
