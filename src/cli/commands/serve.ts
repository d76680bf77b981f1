/**
 * `kiln serve`: the Docker Engine API for the docker CLI and kiln's remote mode. Listens on a unix socket
 * (default /run/kiln/kiln.sock) and/or TCP; TCP off loopback needs client-certificate TLS or a token.
 * SIGTERM/SIGINT drain: no new builds, running ones get `--grace-period` seconds, then the server exits.
 * Builds get no entitlement unless the server is started allowing it (`--allow network.host`) and the build asks.
 * `--cache-from`/`--cache-to` are every build's cache import/export unless the build names its own.
 */
import type { Command } from 'commander';
import { readFile, realpath, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { KilnError, fromSystemError } from '../../errors.js';
import { parseByteSize } from '../../remote-cache/spec.js';
import { globalOptions } from '../context.js';
import { createKilnServer, type ListenSpec } from '../../server/server.js';
import { createLocalBackend } from '../../server/local-backend.js';
import { createLogger } from '../../server/log.js';
import { parseEntitlements } from '../../builder/entitlements.js';
import { describeCacheSource, parseCacheExport, parseCacheImport } from '../../remote-cache/spec.js';

const DEFAULT_SOCKET = '/run/kiln/kiln.sock';

/** `unix:///path`, `tcp://host:port`, or `host:port` → a listen spec; INVALID_ARGUMENT otherwise. */
function parseListen(addr: string): ListenSpec {
  if (addr.startsWith('unix://')) return { kind: 'unix', path: addr.slice('unix://'.length) || DEFAULT_SOCKET };
  const m = /^(?:tcp:\/\/)?(\[[^\]]+\]|[^:/]+):(\d{1,5})\/?$/.exec(addr);
  if (!m || Number(m[2]) > 65535) throw new KilnError('INVALID_ARGUMENT', `--listen ${JSON.stringify(addr)}: expected unix:///path or tcp://host:port`);
  return { kind: 'tcp', host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

async function readSecretFile(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw fromSystemError(err, `${what} ${path}`) ?? err;
  }
}

export function register(program: Command): void {
  program
    .command('serve')
    .description('serve the Docker Engine API (build, images, push, pull, run) for docker and kiln --host clients')
    .option(
      '--listen <addr>',
      `unix:///PATH or tcp://HOST:PORT (repeatable; default unix://${DEFAULT_SOCKET})`,
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option('--tlscacert <file>', 'CA that signs client certificates (TLS on TCP listeners)')
    .option('--tlscert <file>', 'server certificate')
    .option('--tlskey <file>', 'server key')
    .option('--token-file <file>', 'require "Authorization: Bearer <token>" on TCP (token = the file\'s first line)')
    .option('--concurrency <n>', 'builds running at once', (v) => Number(v), 2)
    .option('--max-context-size <size>', 'largest unpacked build context', '2g')
    .option('--idle-timeout <seconds>', 'close connections idle this long', (v) => Number(v), 300)
    .option('--grace-period <seconds>', 'on SIGTERM, let running builds finish this long before cancelling them', (v) => Number(v), 60)
    .option('--quiet', 'log only warnings and errors')
    .option(
      '--allow-bind <dir>',
      'let containers created through the API bind-mount host paths inside DIR (repeatable; none by default)',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option(
      '--allow <entitlement>',
      'let builds that ask for it use an entitlement: network.host (RUN --network=host, docker build --network host), security.insecure (repeatable; none by default)',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option(
      '--cache-from <spec>',
      'cache source for every build that names none (docker build --cache-from replaces it): REF, type=registry,ref=REF or type=local,src=DIR (repeatable)',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option(
      '--cache-to <spec>',
      "cache export for every build that names none (kiln's --cache-to replaces it): type=registry,ref=REF[,mode=max], type=local,dest=DIR or type=inline (repeatable)",
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option('--history-max-records <n>', 'build records kept (default 50, or KILN_HISTORY_MAX_RECORDS)')
    .option('--history-max-age <duration>', 'build records older than this are removed (default 48h, or KILN_HISTORY_MAX_AGE)')
    .option('--history-max-size <size>', 'build records kept in all, oldest removed first (default 1g, or KILN_HISTORY_MAX_SIZE)')
    .option('--default-address-pool <spec>', 'where user-defined networks take their subnets: base=CIDR,size=N (default base=10.90.0.0/16,size=24)')
    .action(
      async (
        o: {
          defaultAddressPool?: string;
          historyMaxRecords?: string;
          historyMaxAge?: string;
          historyMaxSize?: string;
          listen: string[];
          cacheFrom: string[];
          cacheTo: string[];
          allow: string[];
          allowBind: string[];
          tlscacert?: string;
          tlscert?: string;
          tlskey?: string;
          tokenFile?: string;
          concurrency: number;
          maxContextSize: string;
          idleTimeout: number;
          gracePeriod: number;
          quiet?: boolean;
        },
        cmd: Command,
      ) => {
        const g = globalOptions(cmd);
        const listen = (o.listen.length ? o.listen : [`unix://${DEFAULT_SOCKET}`]).map(parseListen);
        const tlsParts = [o.tlscacert, o.tlscert, o.tlskey].filter(Boolean).length;
        if (tlsParts !== 0 && tlsParts !== 3) throw new KilnError('INVALID_ARGUMENT', 'TLS needs all of --tlscacert, --tlscert and --tlskey');
        const tls =
          tlsParts === 3
            ? {
                ca: await readSecretFile(o.tlscacert!, 'CA'),
                cert: await readSecretFile(o.tlscert!, 'certificate'),
                key: await readSecretFile(o.tlskey!, 'key'),
              }
            : undefined;
        let token: string | undefined;
        if (o.tokenFile) {
          token = (await readSecretFile(o.tokenFile, 'token file')).toString('utf8').split('\n')[0].trim();
          if (token.length < 16) throw new KilnError('INVALID_ARGUMENT', `token in ${o.tokenFile} is shorter than 16 characters`);
        }
        const allow = parseEntitlements(o.allow);
        const bindRoots = await Promise.all(o.allowBind.map(bindRoot));
        if (!Number.isInteger(o.concurrency) || o.concurrency < 1) throw new KilnError('INVALID_ARGUMENT', '--concurrency must be a positive integer');
        // The operator's own: type=local directories are allowed here (resolved against the server's cwd).
        const cache = {
          cacheFrom: o.cacheFrom.map((c) => parseCacheImport(c, (p) => resolve(p))),
          cacheTo: o.cacheTo.map((c) => parseCacheExport(c, (p) => resolve(p))),
        };
        if (o.defaultAddressPool) {
          const { parseAddressPool } = await import('../../networks/ipam.js');
          parseAddressPool(o.defaultAddressPool);
          // Read by every network create of this process (networks/ipam.ts defaultAddressPool).
          process.env.KILN_DEFAULT_ADDRESS_POOL = o.defaultAddressPool;
        }
        // Networks a crash left behind (bridges, rules, DNS servers, leases of dead roots or removed records).
        await (await import('../../networks/sweep.js')).sweepNetworks(g.root);
        const { retentionPolicy } = await import('../../history/retention.js');
        const historyRetention = retentionPolicy(g.io.env, { maxRecords: o.historyMaxRecords, maxAge: o.historyMaxAge, maxSize: o.historyMaxSize });
        const backend = await createLocalBackend({ root: g.root, historyRetention });
        // As dockerd at boot: containers whose restart policy asks for it run again before the API answers.
        const boot = await (await import('../../containers/boot-restart.js')).restartContainersAtBoot(g.root);
        const bootLog = createLogger({ quiet: o.quiet });
        if (boot.restarted.length) bootLog.info('restarted containers by their restart policy', { containers: boot.restarted.map((id) => id.slice(0, 12)) });
        for (const f of boot.failed) bootLog.error('container did not restart', { container: f.id.slice(0, 12), error: f.message });
        const server = createKilnServer({
          backend,
          listen,
          tls,
          token,
          concurrency: o.concurrency,
          allow,
          bindRoots,
          cache,
          limits: { maxContextBytes: parseByteSize(o.maxContextSize, '--max-context-size'), idleTimeoutMs: o.idleTimeout * 1000 },
          log: createLogger({ quiet: o.quiet }),
        });
        try {
          const addrs = await server.listen();
          process.stdout.write(`kiln serve: listening on ${addrs.join(', ')}\n`);
          if (cache.cacheFrom.length) process.stdout.write(`kiln serve: builds import cache from ${cache.cacheFrom.map(describeCacheSource).join(', ')}\n`);
          if (cache.cacheTo.length) process.stdout.write(`kiln serve: builds export cache to ${cache.cacheTo.map(describeCacheSource).join(', ')}\n`);
        } catch (err) {
          await backend.close?.();
          throw err;
        }
        // A long-running server logs a stray rejection (a clean-up racing the shutdown, say) instead of dying of it.
        const log = createLogger({ quiet: o.quiet });
        process.on('unhandledRejection', (err) => log.error('unhandled rejection', { error: (err as Error)?.stack ?? String(err) }));
        await new Promise<void>((resolve) => {
          let stopping = false;
          // `on`, not `once`: a second SIGTERM during the drain must not kill the process mid-clean-up.
          const stop = () => {
            if (stopping) return;
            stopping = true;
            void server.close(o.gracePeriod * 1000).then(resolve, resolve);
          };
          process.on('SIGTERM', stop);
          process.on('SIGINT', stop);
        });
        process.stdout.write('kiln serve: stopped\n');
      },
    );
}

/** `--allow-bind DIR`: an existing directory, as its real path (what bind sources are compared with). */
async function bindRoot(dir: string): Promise<string> {
  const real = await realpath(resolve(dir)).catch(() => {
    throw new KilnError('INVALID_ARGUMENT', `--allow-bind ${dir}: no such directory`);
  });
  if (!(await stat(real)).isDirectory()) throw new KilnError('INVALID_ARGUMENT', `--allow-bind ${dir}: not a directory`);
  return real;
}
