/**
 * `/networks/*` on src/networks (records, subnets, bridges, DNS) and the container runtime's endpoints: dockerd's
 * answers and status codes (404 unknown, 409 duplicate name, 403 predefined or in use), events as dockerd's.
 */
import { KilnError } from '../errors.js';
import { connectContainer, containersOnNetwork, disconnectContainer } from '../containers/container-networks.js';
import { createNetwork, removeNetwork } from '../networks/networks.js';
import { createNetworkStore } from '../networks/store.js';
import { isPredefined, type NetworkRecord } from '../networks/types.js';
import type { AddressPool } from '../networks/ipam.js';
import type { NetworkBackend, NetworkCreateBody, NetworkInspect } from './backend.js';
import { checkNetworkListFilters, matchNetwork, networkPruneFilter } from './network-filters.js';

function stringMap(v: unknown, what: string): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v) || Object.values(v).some((x) => typeof x !== 'string')) {
    throw new KilnError('INVALID_ARGUMENT', `${what} must be an object of strings`);
  }
  return { ...(v as Record<string, string>) };
}

/** The create body's fields kiln does not honour, refused rather than dropped. */
function refuseCreate(b: NetworkCreateBody): void {
  if (b.Ingress) throw new KilnError('NOT_IMPLEMENTED', 'Ingress (--ingress) networks are not supported by kiln');
  if (b.ConfigOnly) throw new KilnError('NOT_IMPLEMENTED', 'ConfigOnly (--config-only) networks are not supported by kiln');
  if (b.ConfigFrom && typeof b.ConfigFrom === 'object' && (b.ConfigFrom as { Network?: string }).Network) {
    throw new KilnError('NOT_IMPLEMENTED', '--config-from is not supported by kiln');
  }
  if (b.Scope && b.Scope !== 'local') throw new KilnError('NOT_IMPLEMENTED', `network scope ${JSON.stringify(b.Scope)} is not supported by kiln (local only)`);
  const ipam = b.IPAM ?? {};
  if (ipam.Driver && ipam.Driver !== 'default')
    throw new KilnError('NOT_IMPLEMENTED', `IPAM driver ${JSON.stringify(ipam.Driver)} (--ipam-driver) is not supported by kiln`);
  if (Object.keys(ipam.Options ?? {}).length) throw new KilnError('NOT_IMPLEMENTED', '--ipam-opt is not supported by kiln');
  const cfgs = ipam.Config ?? [];
  if (cfgs.length > 1) throw new KilnError('NOT_IMPLEMENTED', 'more than one subnet per network is not supported by kiln');
  const aux = cfgs[0]?.AuxiliaryAddresses;
  if (aux && typeof aux === 'object' && Object.keys(aux).length) throw new KilnError('NOT_IMPLEMENTED', '--aux-address is not supported by kiln');
}

export function createNetworkBackend(root: string, o: { pool?: AddressPool } = {}): NetworkBackend {
  const store = createNetworkStore(root);

  async function view(net: NetworkRecord): Promise<NetworkInspect> {
    const containers: NetworkInspect['Containers'] = {};
    if (net.Name !== 'host' && net.Name !== 'none') {
      for (const { rec, ep } of await containersOnNetwork(root, net)) {
        containers[rec.id] = {
          Name: rec.name,
          EndpointID: ep.endpointId,
          MacAddress: ep.mac ?? '',
          IPv4Address: ep.ip ? `${ep.ip}/${ep.prefixLen ?? 16}` : '',
          IPv6Address: '',
        };
      }
    }
    const { gatewayImplicit, ...shown } = net;
    const Config = gatewayImplicit ? net.IPAM.Config.map(({ Gateway: _picked, ...given }) => given) : net.IPAM.Config;
    return { ...shown, IPAM: { ...net.IPAM, Config }, ConfigFrom: { Network: '' }, ConfigOnly: false, Containers: containers };
  }

  return {
    async list({ filters = new Map() }) {
      checkNetworkListFilters(filters);
      const out: NetworkInspect[] = [];
      for (const net of await store.list()) {
        const v = await view(net);
        if (matchNetwork(filters, v)) out.push(v);
      }
      return out;
    },
    async inspect(ref) {
      return view(await store.get(ref));
    },
    async create(b) {
      if (!b || typeof b !== 'object') throw new KilnError('INVALID_ARGUMENT', 'a JSON network config is required');
      if (typeof b.Name !== 'string' || !b.Name) throw new KilnError('INVALID_ARGUMENT', 'Name is required');
      refuseCreate(b);
      const cfg = b.IPAM?.Config?.[0];
      const net = await createNetwork(
        root,
        {
          name: b.Name,
          driver: b.Driver ?? undefined,
          internal: Boolean(b.Internal),
          attachable: Boolean(b.Attachable),
          enableIPv6: Boolean(b.EnableIPv6),
          subnet: cfg?.Subnet || undefined,
          gateway: cfg?.Gateway || undefined,
          ipRange: cfg?.IPRange || undefined,
          labels: stringMap(b.Labels, 'Labels'),
          options: stringMap(b.Options, 'Options'),
          checkDuplicate: true,
        },
        o.pool,
      );
      return { Id: net.Id, Warning: '' };
    },
    async remove(ref) {
      const net = await store.get(ref);
      const active = isPredefined(net.Name) ? [] : (await containersOnNetwork(root, net)).map((c) => c.rec.name);
      await removeNetwork(root, net, active);
    },
    async connect(ref, b) {
      if (!b?.Container) throw new KilnError('INVALID_ARGUMENT', 'Container is required');
      const ipam = b.EndpointConfig?.IPAMConfig;
      if (ipam?.IPv6Address) throw new KilnError('NOT_IMPLEMENTED', '--ip6 is not supported by kiln');
      for (const k of Object.keys(b.EndpointConfig ?? {})) {
        const v = (b.EndpointConfig as Record<string, unknown>)[k];
        const empty =
          v === null ||
          v === undefined ||
          v === '' ||
          v === 0 ||
          v === false ||
          (Array.isArray(v) && !v.length) ||
          (typeof v === 'object' && !Array.isArray(v) && !Object.values(v).some(Boolean));
        if (!['Aliases', 'IPAMConfig', 'NetworkID', 'EndpointID'].includes(k) && !empty)
          throw new KilnError('NOT_IMPLEMENTED', `EndpointConfig ${k} is not supported by kiln`);
      }
      await connectContainer(root, ref, b.Container, { aliases: b.EndpointConfig?.Aliases ?? [], ipv4Address: ipam?.IPv4Address || undefined });
    },
    async disconnect(ref, b) {
      if (!b?.Container) throw new KilnError('INVALID_ARGUMENT', 'Container is required');
      await disconnectContainer(root, ref, b.Container, { force: Boolean(b.Force) });
    },
    async prune({ filters = new Map() }) {
      const keep = networkPruneFilter(filters);
      const deleted: string[] = [];
      for (const net of await store.list()) {
        if (isPredefined(net.Name) || !keep({ created: net.Created, labels: net.Labels })) continue;
        if ((await containersOnNetwork(root, net)).length) continue;
        const ok = await removeNetwork(root, net, []).then(
          () => true,
          () => false,
        );
        if (ok) deleted.push(net.Name);
      }
      return { NetworksDeleted: deleted };
    },
  };
}
