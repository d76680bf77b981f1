/**
 * The CLI's command modules by command name. Each module owns one command (or one command family) and exports
 * `register`. main.ts loads only the module of the command being run (start-up time: a no-op rebuild should not
 * pay for importing the server), and every module for `--help` or an unknown command.
 * Keep this table sorted; it is the only place that knows them all.
 */
import type { RegisterCommand } from '../context.js';

export type CommandLoader = () => Promise<{ register: RegisterCommand }>;

export const commandModules: Record<string, CommandLoader> = {
  base: () => import('./base.js'),
  build: () => import('./build.js'),
  commit: () => import('./commit.js'),
  daemon: () => import('./daemon.js'),
  du: () => import('./du.js'),
  exec: () => import('./exec.js'),
  export: () => import('./export.js'),
  history: () => import('./history.js'),
  images: () => import('./images.js'),
  import: () => import('./import.js'),
  inspect: () => import('./inspect.js'),
  load: () => import('./load.js'),
  login: () => import('./login.js'),
  logout: () => import('./logout.js'),
  logs: () => import('./logs.js'),
  network: () => import('./network.js'),
  outline: () => import('./outline.js'),
  prune: () => import('./prune.js'),
  ps: () => import('./ps.js'),
  pull: () => import('./pull.js'),
  push: () => import('./push.js'),
  restart: () => import('./start.js'),
  rm: () => import('./rm.js'),
  rmi: () => import('./rmi.js'),
  run: () => import('./run.js'),
  save: () => import('./save.js'),
  serve: () => import('./serve.js'),
  setup: () => import('./setup.js'),
  start: () => import('./start.js'),
  stop: () => import('./stop.js'),
  store: () => import('./store.js'),
  tag: () => import('./tag.js'),
  ui: () => import('./ui.js'),
  volume: () => import('./volume.js'),
};
