/** The DNS process's command line (dns-main.ts), parsed apart from the process so it is testable. */
import { isIPv4 } from 'node:net';
import { resolve } from 'node:path';
import { KilnError } from '../../errors.js';
import { parseUpstream, type Upstream } from './resolv-conf.js';

/**
 * The parsed command line; `upstream` is undefined when no --upstream was given (the host's nameservers are used)
 * and empty with --no-forward.
 */
export interface DnsMainArgs {
  listen: string;
  port: number;
  recordsDir: string;
  upstream: Upstream[] | undefined;
}

/** Parses argv (without node and the script); throws INVALID_ARGUMENT naming the flag at fault. */
export function parseDnsMainArgs(argv: readonly string[]): DnsMainArgs {
  let listen: string | undefined;
  let port = 53;
  let recordsDir: string | undefined;
  let upstream: Upstream[] | undefined;
  let noForward = false;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    if (flag === '--no-forward') {
      noForward = true;
      continue;
    }
    const value = argv[i + 1];
    if (!['--listen', '--port', '--records-dir', '--upstream'].includes(flag)) throw new KilnError('INVALID_ARGUMENT', `dns: unknown argument ${flag}`);
    if (value === undefined) throw new KilnError('INVALID_ARGUMENT', `dns: ${flag} needs a value`);
    i++;
    if (flag === '--listen') {
      if (!isIPv4(value)) throw new KilnError('INVALID_ARGUMENT', `dns: --listen ${value}: not an IPv4 address`);
      listen = value;
    } else if (flag === '--port') {
      port = Number(value);
      if (!/^\d+$/.test(value) || port > 65_535) throw new KilnError('INVALID_ARGUMENT', `dns: --port ${value}: not a port number`);
    } else if (flag === '--records-dir') recordsDir = resolve(value);
    else {
      const u = parseUpstream(value);
      if (!u) throw new KilnError('INVALID_ARGUMENT', `dns: --upstream ${value}: expected IP or IP:port`);
      (upstream ??= []).push(u);
    }
  }
  if (!listen) throw new KilnError('INVALID_ARGUMENT', 'dns: --listen is required');
  if (!recordsDir) throw new KilnError('INVALID_ARGUMENT', 'dns: --records-dir is required');
  if (noForward && upstream) throw new KilnError('INVALID_ARGUMENT', 'dns: --no-forward and --upstream exclude each other');
  // --no-forward (an --internal network, whose containers must not reach outside): only local names answer.
  return { listen, port, recordsDir, upstream: noForward ? [] : upstream };
}
