/**
 * Boundary types of src/networks/: a network as stored and as the Engine API shows it (dockerd's field names,
 * so `network.json` is the inspect answer minus the live Containers map).
 */

export interface IpamConfig {
  Subnet: string;
  Gateway: string;
  IPRange?: string;
}

export interface NetworkRecord {
  /** 64 hex. */
  Id: string;
  Name: string;
  /** `bridge` for every network kiln makes; `host` and `null` for the predefined host and none. */
  Driver: string;
  Created: string;
  Scope: 'local';
  EnableIPv6: false;
  IPAM: { Driver: 'default'; Options: Record<string, string>; Config: IpamConfig[] };
  Internal: boolean;
  Attachable: boolean;
  Ingress: false;
  Labels: Record<string, string>;
  Options: Record<string, string>;
  /**
   * kiln's own: the user gave a subnet without a gateway, so the API shows IPAM.Config as given (dockerd keeps the
   * user's IPAM config; the gateway it picked is used, not shown).
   */
  gatewayImplicit?: boolean;
}

/** The predefined networks every root lists and nobody removes. */
export const PREDEFINED = ['bridge', 'host', 'none'] as const;
export type PredefinedName = (typeof PREDEFINED)[number];

export function isPredefined(name: string): name is PredefinedName {
  return (PREDEFINED as readonly string[]).includes(name);
}

/** What a network create asks for (the API's and the CLI's options, already checked for shape). */
export interface NetworkCreateOptions {
  name: string;
  driver?: string;
  internal?: boolean;
  attachable?: boolean;
  subnet?: string;
  gateway?: string;
  ipRange?: string;
  labels?: Record<string, string>;
  options?: Record<string, string>;
  enableIPv6?: boolean;
  /** Refuse a name already in use (always: dockerd ≥ 20.10 refuses duplicates whatever CheckDuplicate says). */
  checkDuplicate?: boolean;
}

/** One container's endpoint on a network, as inspect's Containers map shows it. */
export interface EndpointView {
  Name: string;
  EndpointID: string;
  MacAddress: string;
  IPv4Address: string;
  IPv6Address: string;
}
