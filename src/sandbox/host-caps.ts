/**
 * The capabilities kiln itself may grant: its bounding set. `--cap-add ALL` and RUN `--security=insecure` mean
 * "every capability this host allows" (Docker's GetAllCapabilities, containerd's WithAllCurrentCapabilities):
 * asking runc for one outside it fails the start ("unable to apply caps"). Root here lacks CAP_SYS_RESOURCE.
 */
import { readFile } from 'node:fs/promises';
import { ALL_CAPABILITIES } from './spec.js';

let cached: Promise<string[]> | undefined;

/** Capability names in this process's bounding set (CapBnd of /proc/self/status; all known ones if unreadable). Read once. */
export function hostCapabilities(): Promise<string[]> {
  cached ??= readFile('/proc/self/status', 'utf8')
    .then((t) => {
      const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(t);
      if (!m) return [...ALL_CAPABILITIES];
      const bits = BigInt(`0x${m[1]}`);
      // ALL_CAPABILITIES lists the capabilities in bit order (CAP_CHOWN = 0 … CAP_CHECKPOINT_RESTORE = 40).
      return ALL_CAPABILITIES.filter((_c, i) => (bits >> BigInt(i)) & 1n);
    })
    .catch(() => [...ALL_CAPABILITIES]);
  return cached;
}
