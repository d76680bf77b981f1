/**
 * Entitlements, as BuildKit names them: what a Dockerfile alone may not ask for, and whoever starts the build
 * must grant. `network.host` lets a RUN step share the build host's network (its loopback services included);
 * `security.insecure` lets `RUN --security=insecure` run with every capability and no seccomp filter. A server
 * grants only what its operator allowed (`kiln serve --allow …`) and its client asked for.
 */
import { KilnError, type SourceLocation } from '../errors.js';

export type Entitlement = 'network.host' | 'security.insecure';

export const ENTITLEMENTS: readonly Entitlement[] = ['network.host', 'security.insecure'];

export function isEntitlement(s: string): s is Entitlement {
  return (ENTITLEMENTS as readonly string[]).includes(s);
}

/** `--allow` values (repeatable, or comma-separated as buildx accepts them); INVALID_ARGUMENT for unknown ones. */
export function parseEntitlements(values: readonly string[], flag = '--allow'): Entitlement[] {
  const out = new Set<Entitlement>();
  for (const v of values.flatMap((x) => x.split(',')).map((x) => x.trim()).filter(Boolean)) {
    if (!isEntitlement(v)) throw new KilnError('INVALID_ARGUMENT', `${flag}: invalid entitlement ${JSON.stringify(v)}`, { hint: `use ${ENTITLEMENTS.join(' or ')}` });
    out.add(v);
  }
  return [...out];
}

/** What the refused step should tell its user to do; the CLI's default, a server supplies its own. */
export type EntitlementHint = (e: Entitlement) => string;

export const localEntitlementHint: EntitlementHint = (e) => `if you trust this Dockerfile, build with --allow ${e}`;

/** Throws ENTITLEMENT_DENIED naming the instruction and line unless `e` is granted. */
export function requireEntitlement(
  granted: readonly string[] | undefined, e: Entitlement, what: string, loc: SourceLocation, hint: EntitlementHint = localEntitlementHint,
): void {
  if (granted?.includes(e)) return;
  throw new KilnError('ENTITLEMENT_DENIED', `${what} needs the ${e} entitlement, which this build was not granted`, {
    loc: { file: loc.file, line: loc.line }, hint: hint(e), details: { entitlement: e },
  });
}
