/**
 * Entry of a network's DNS process:
 *   node dns-main.js --listen <IPv4> [--port 53] --records-dir <DIR> [--upstream <IP[:port]>]... [--no-forward]
 * spawned by the network code, one per user-defined network, in the host's network namespace. It answers the
 * names in DIR (records.ts), forwards the rest to the upstreams (default: the host's /etc/resolv.conf
 * nameservers), writes its pid to DIR/../dns.pid once bound, and exits by itself within ~1 s of DIR being
 * removed, so a removed network never leaves it behind.
 */
import { dirname, join } from 'node:path';
import { KilnError, isKilnError } from '../../errors.js';
import { parseDnsMainArgs } from './dns-args.js';
import { createRecordsTable } from './records.js';
import { parseUpstream, readResolvConf, type Upstream } from './resolv-conf.js';
import { startDnsServer } from './server.js';
import { removePidFile, writePidFile } from './pid-file.js';

/** How often the records directory's existence is checked. */
const GONE_CHECK_MS = 500;

async function main(argv: readonly string[]): Promise<void> {
  const args = parseDnsMainArgs(argv);
  const host = readResolvConf();
  const upstream = args.upstream ?? host.nameservers.map(parseUpstream).filter((u): u is Upstream => u !== undefined);
  const table = createRecordsTable(args.recordsDir, { search: host.search });
  if (!table.exists()) throw new KilnError('INVALID_ARGUMENT', `dns: --records-dir ${args.recordsDir}: not a directory`);
  if (upstream.length === 0 && args.upstream === undefined) process.stderr.write('dns: no upstream nameservers: names outside the network get SERVFAIL\n');
  const server = await startDnsServer({ address: args.listen, port: args.port, lookup: table.lookup, reverse: table.reverse, upstream });
  const pidFile = join(dirname(args.recordsDir), 'dns.pid');
  writePidFile(pidFile, process.pid);
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    clearInterval(timer);
    removePidFile(pidFile, process.pid);
    await server.close();
    process.exit(code);
  };
  const timer = setInterval(() => {
    if (!table.exists()) void stop(0);
  }, GONE_CHECK_MS);
  process.on('SIGTERM', () => void stop(0));
  process.on('SIGINT', () => void stop(0));
  // Spawned detached by the daemon: a hang-up of whatever started it must not stop the network's DNS.
  process.on('SIGHUP', () => {});
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`${isKilnError(err) ? err.message : ((err as Error)?.stack ?? String(err))}\n`);
  process.exit(isKilnError(err) ? 2 : 1);
});
