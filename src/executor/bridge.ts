/** Placeholder until the bridge lands. */
import { KilnError } from '../errors.js';
import type { NetworkAttachment, NetworkContext } from './network.js';

export async function attachBridge(_ctx: NetworkContext): Promise<NetworkAttachment> {
  throw new KilnError('NOT_IMPLEMENTED', 'bridge network is not implemented yet');
}
