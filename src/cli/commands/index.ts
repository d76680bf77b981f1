/**
 * The list of CLI command modules. Each module owns one command (or one command family) and exports `register`.
 * Keep this list sorted; it is the only place that knows them all.
 */
import type { RegisterCommand } from '../context.js';

export const commandModules: Array<() => Promise<{ register: RegisterCommand }>> = [
  // e.g. () => import('./outline.js'),
  () => import('./base.js'),
  () => import('./build.js'),
  () => import('./du.js'),
  () => import('./exec.js'),
  () => import('./images.js'),
  () => import('./import.js'),
  () => import('./inspect.js'),
  () => import('./load.js'),
  () => import('./login.js'),
  () => import('./logout.js'),
  () => import('./logs.js'),
  () => import('./outline.js'),
  () => import('./prune.js'),
  () => import('./ps.js'),
  () => import('./pull.js'),
  () => import('./push.js'),
  () => import('./rm.js'),
  () => import('./rmi.js'),
  () => import('./run.js'),
  () => import('./save.js'),
  () => import('./serve.js'),
  () => import('./stop.js'),
  () => import('./store.js'),
  () => import('./tag.js'),
  () => import('./volume.js'),
];
