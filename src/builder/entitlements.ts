/**
 * Entitlements, as BuildKit names them: what a Dockerfile alone may not ask for, and whoever starts the build
 * must grant. `network.host` lets a RUN step share the build host's network (its loopback services included);
 * `security.insecure` lets `RUN --security=insecure` run with every capability and no seccomp filter. A server
 * grants only what its operator allowed (`kiln serve --allow …`) and its client asked for.
 */
import { KilnError, type SourceLocation } from '../errors.js';
import type { RunInstruction } from '../parser/types.js';
import type { BuildOptions } from './types.js';

export type Entitlement = 'network.host' | 'security.insecure';

export const ENTITLEMENTS: readonly Entitlement[] = ['network.host', 'security.insecure'];

export function isEntitlement(s: string): s is Entitlement {
  return (ENTITLEMENTS as readonly string[]).includes(s);
}

/** `--allow` values (repeatable, or comma-separated as buildx accepts them); INVALID_ARGUMENT for unknown ones. */
export function parseEntitlements(values: readonly string[], flag = '--allow'): Entitlement[] {
  const out = new Set<Entitlement>();
  for (const v of values
    .flatMap((x) => x.split(','))
    .map((x) => x.trim())
    .filter(Boolean)) {
    if (!isEntitlement(v))
      throw new KilnError('INVALID_ARGUMENT', `${flag}: invalid entitlement ${JSON.stringify(v)}`, { hint: `use ${ENTITLEMENTS.join(' or ')}` });
    out.add(v);
  }
  return [...out];
}

/** What the refused step should tell its user to do; the CLI's default, a server supplies its own. */
export type EntitlementHint = (e: Entitlement) => string;

export const localEntitlementHint: EntitlementHint = (e) => `if you trust this Dockerfile, build with --allow ${e}`;

/** Throws ENTITLEMENT_DENIED naming the instruction and line unless `e` is granted. */
export function requireEntitlement(
  granted: readonly string[] | undefined,
  e: Entitlement,
  what: string,
  loc: SourceLocation,
  hint: EntitlementHint = localEntitlementHint,
): void {
  if (granted?.includes(e)) return;
  throw new KilnError('ENTITLEMENT_DENIED', `${what} needs the ${e} entitlement, which this build was not granted`, {
    loc: { file: loc.file, line: loc.line },
    hint: hint(e),
    details: { entitlement: e },
  });
}

/**
 * As BuildKit: a Dockerfile alone can neither lift the sandbox nor reach the build host's network (its loopback
 * services included); whoever starts the build must grant that. Throws ENTITLEMENT_DENIED naming the line; returns
 * the step's network. The builder runs this over every RUN of the stages it will build before the first step (as
 * BuildKit validates a whole definition), and each step again once its flags are expanded.
 */
export function checkRunEntitlements(ins: RunInstruction, opts: Pick<BuildOptions, 'allow' | 'networkMode' | 'entitlementHint'>): 'default' | 'none' | 'host' {
  const network = ins.network ?? opts.networkMode ?? 'default';
  if (ins.security === 'insecure') requireEntitlement(opts.allow, 'security.insecure', 'RUN --security=insecure', ins.loc, opts.entitlementHint);
  if (network === 'host') {
    const what = ins.network === 'host' ? 'RUN --network=host' : "RUN with the build's host network";
    requireEntitlement(opts.allow, 'network.host', what, ins.loc, opts.entitlementHint);
  }
  return network;
}
