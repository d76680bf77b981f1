/**
 * The list of CLI command modules. Each module owns one command (or one command family) and exports `register`.
 * Keep this list sorted; it is the only place that knows them all.
 */
import type { RegisterCommand } from '../context.js';

export const commandModules: Array<() => Promise<{ register: RegisterCommand }>> = [
  // e.g. () => import('./outline.js'),
  () => import('./base.js'),
  () => import('./du.js'),
  () => import('./images.js'),
  () => import('./import.js'),
  () => import('./inspect.js'),
  () => import('./login.js'),
  () => import('./logout.js'),
  () => import('./prune.js'),
  () => import('./pull.js'),
  () => import('./push.js'),
  () => import('./rmi.js'),
  () => import('./serve.js'),
  () => import('./store.js'),
  () => import('./tag.js'),
];
