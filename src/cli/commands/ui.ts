/**
 * `kiln ui`: the build history web page over the local state root, without the Docker API (no builds, containers
 * or images can be driven through it). Listens on 127.0.0.1:7480 by default; another address off loopback needs
 * `--token-file`, as `kiln serve` does, and the page then asks for the token once (see docs/ui.md).
 */
import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { KilnError, fromSystemError } from '../../errors.js';
import { globalOptions } from '../context.js';
import { createKilnServer } from '../../server/server.js';
import { createLogger } from '../../server/log.js';
import { pageRoutes } from '../../server/routes/index.js';
import type { ServerBackend } from '../../server/backend.js';

/** `HOST:PORT` or `tcp://HOST:PORT` → host and port; INVALID_ARGUMENT otherwise. */
export function parseUiListen(addr: string): { host: string; port: number } {
  const m = /^(?:tcp:\/\/)?(\[[^\]]+\]|[^:/]+):(\d{1,5})\/?$/.exec(addr);
  if (!m || Number(m[2]) > 65535) throw new KilnError('INVALID_ARGUMENT', `--listen ${JSON.stringify(addr)}: expected HOST:PORT, e.g. 127.0.0.1:7480`);
  return { host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

export function register(program: Command): void {
  program
    .command('ui')
    .description('serve the build history web page for this state root (http://127.0.0.1:7480/ui/ by default)')
    .option('--listen <addr>', 'HOST:PORT to listen on (off loopback only with --token-file)', '127.0.0.1:7480')
    .option('--token-file <file>', 'require this token (its first line): the page asks for it once and keeps a session cookie')
    .option('--quiet', 'log only warnings and errors')
    .action(async (o: { listen: string; tokenFile?: string; quiet?: boolean }, cmd: Command) => {
      const g = globalOptions(cmd);
      const spec = parseUiListen(o.listen);
      let token: string | undefined;
      if (o.tokenFile) {
        const data = await readFile(o.tokenFile).catch((err: unknown) => {
          throw fromSystemError(err, `token file ${o.tokenFile}`) ?? err;
        });
        token = data.toString('utf8').split('\n')[0].trim();
        if (token.length < 16) throw new KilnError('INVALID_ARGUMENT', `token in ${o.tokenFile} is shorter than 16 characters`);
      }
      const { openRoot } = await import('../../cache/root.js');
      const { createImageBackend } = await import('../../server/image-backend.js');
      const { describeLayers } = await import('../../server/ui/image-layers.js');
      const root = await openRoot(g.root);
      const backend: ServerBackend = {
        tmpDir: root.tmpDir,
        historyRoot: root.root,
        imageLayers: (digest, io) => describeLayers(root.content, digest, io),
        images: createImageBackend(root),
        build: () => Promise.reject(new KilnError('NOT_IMPLEMENTED', 'kiln ui does not build; use kiln build or kiln serve')),
        close: () => root.close(),
      };
      const log = createLogger({ quiet: o.quiet });
      let server;
      try {
        server = createKilnServer({ backend, listen: [{ kind: 'tcp', ...spec }], token, routes: pageRoutes, log, contextCacheEntries: 0 });
        const [addr] = await server.listen();
        process.stdout.write(`kiln ui: ${addr.replace(/^tcp:/, 'http:')}/ui/\n`);
      } catch (err) {
        await root.close();
        throw err;
      }
      const running = server;
      await new Promise<void>((resolve) => {
        const stop = () => void running.close(1000).then(resolve, resolve);
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
    });
}
