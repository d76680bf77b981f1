/**
 * `kiln network create|ls|inspect|rm|connect|disconnect|prune`: user-defined bridge networks of the state root,
 * the same library calls the server's /networks endpoints make (src/networks, containers/container-networks.ts).
 * `KILN_DEFAULT_ADDRESS_POOL=base=CIDR,size=N` sets where subnets come from, as `kiln serve --default-address-pool`.
 */
import type { Command } from 'commander';
import { KilnError } from '../../errors.js';
import { globalOptions } from '../context.js';

const collect = (v: string, acc: string[]) => [...acc, v];

async function backend(root: string) {
  const { createNetworkBackend } = await import('../../server/network-backend.js');
  const { cleanupStale } = await import('../../sandbox/cleanup.js');
  await cleanupStale(root);
  return createNetworkBackend(root);
}

async function filters(values: string[]) {
  const f = new Map<string, string[]>();
  for (const v of values) {
    const i = v.indexOf('=');
    if (i <= 0) throw new KilnError('INVALID_ARGUMENT', `bad format of filter (expected name=value): ${v}`);
    f.set(v.slice(0, i), [...(f.get(v.slice(0, i)) ?? []), v.slice(i + 1)]);
  }
  return f;
}

function labelMap(flags: string[]): Record<string, string> {
  return Object.fromEntries(flags.map((l) => [l.split('=')[0]!, l.split('=').slice(1).join('=')]));
}

export function register(program: Command): void {
  const network = program.command('network').description('manage networks');
  network
    .command('create')
    .description('create a bridge network')
    .argument('<name>')
    .option('-d, --driver <driver>', 'driver (bridge only)', 'bridge')
    .option('--subnet <cidr>', 'subnet in CIDR format (default: the next free one of the address pool)')
    .option('--gateway <ip>', 'gateway of the subnet (default: its first address)')
    .option('--ip-range <cidr>', 'allocate container addresses from this part of the subnet')
    .option('--internal', 'no access from or to outside the network')
    .option('--attachable', 'accepted (a local network is always attachable)')
    .option('--label <k=v>', 'set metadata (repeatable)', collect, [] as string[])
    .option('-o, --opt <k=v>', 'driver option (none supported; refused)', collect, [] as string[])
    .option('--ipv6', 'IPv6 (not supported; refused)')
    .action(
      async (
        name: string,
        o: {
          driver: string;
          subnet?: string;
          gateway?: string;
          ipRange?: string;
          internal?: boolean;
          attachable?: boolean;
          label: string[];
          opt: string[];
          ipv6?: boolean;
        },
        cmd: Command,
      ) => {
        const b = await backend(globalOptions(cmd).root);
        const r = await b.create({
          Name: name,
          Driver: o.driver,
          Internal: Boolean(o.internal),
          Attachable: Boolean(o.attachable),
          EnableIPv6: Boolean(o.ipv6),
          IPAM: o.subnet || o.gateway || o.ipRange ? { Config: [{ Subnet: o.subnet, Gateway: o.gateway, IPRange: o.ipRange }] } : null,
          Labels: labelMap(o.label),
          Options: labelMap(o.opt),
        });
        process.stdout.write(`${r.Id}\n`);
      },
    );
  network
    .command('ls')
    .alias('list')
    .description('list networks')
    .option('-f, --filter <k=v>', 'filter: driver, id, label, name, scope, type, dangling (repeatable)', collect, [] as string[])
    .option('-q, --quiet', 'only display network ids')
    .option('--no-trunc', 'do not truncate ids')
    .action(async (o: { filter: string[]; quiet?: boolean; trunc: boolean }, cmd: Command) => {
      const nets = await (await backend(globalOptions(cmd).root)).list({ filters: await filters(o.filter) });
      const id = (s: string) => (o.trunc ? s.slice(0, 12) : s);
      if (o.quiet) {
        process.stdout.write(nets.map((n) => `${id(n.Id)}\n`).join(''));
        return;
      }
      const w = o.trunc ? 15 : 67;
      const rows = [`${'NETWORK ID'.padEnd(w)}${'NAME'.padEnd(20)}${'DRIVER'.padEnd(10)}SCOPE`];
      for (const n of [...nets].sort((a, b) => a.Name.localeCompare(b.Name)))
        rows.push(`${id(n.Id).padEnd(w)}${n.Name.padEnd(20)}${n.Driver.padEnd(10)}${n.Scope}`);
      process.stdout.write(rows.join('\n') + '\n');
    });
  network
    .command('inspect')
    .description('display detailed information on networks')
    .argument('<networks...>')
    .action(async (refs: string[], _o: unknown, cmd: Command) => {
      const b = await backend(globalOptions(cmd).root);
      const out = [];
      for (const r of refs) out.push(await b.inspect(r));
      process.stdout.write(JSON.stringify(out, null, 4) + '\n');
    });
  network
    .command('rm')
    .alias('remove')
    .description('remove networks')
    .argument('<networks...>')
    .action(async (refs: string[], _o: unknown, cmd: Command) => {
      const b = await backend(globalOptions(cmd).root);
      for (const r of refs) {
        await b.remove(r);
        process.stdout.write(`${r}\n`);
      }
    });
  network
    .command('connect')
    .description('connect a container to a network')
    .argument('<network>')
    .argument('<container>')
    .option('--alias <name>', 'network-scoped alias (repeatable)', collect, [] as string[])
    .option('--ip <address>', 'IPv4 address on the network')
    .action(async (net: string, container: string, o: { alias: string[]; ip?: string }, cmd: Command) => {
      const b = await backend(globalOptions(cmd).root);
      await b.connect(net, { Container: container, EndpointConfig: { Aliases: o.alias, IPAMConfig: o.ip ? { IPv4Address: o.ip } : null } });
    });
  network
    .command('disconnect')
    .description('disconnect a container from a network')
    .argument('<network>')
    .argument('<container>')
    .option('-f, --force', 'force the container to disconnect')
    .action(async (net: string, container: string, o: { force?: boolean }, cmd: Command) => {
      const b = await backend(globalOptions(cmd).root);
      await b.disconnect(net, { Container: container, Force: Boolean(o.force) });
    });
  network
    .command('prune')
    .description('remove networks no running container uses')
    .option('-f, --force', 'do not prompt for confirmation (kiln never prompts)')
    .option('--filter <k=v>', 'filter: until, label, label! (repeatable)', collect, [] as string[])
    .action(async (o: { filter: string[] }, cmd: Command) => {
      const r = await (await backend(globalOptions(cmd).root)).prune({ filters: await filters(o.filter) });
      if (r.NetworksDeleted.length) process.stdout.write(`Deleted Networks:\n${r.NetworksDeleted.join('\n')}\n`);
    });
}
