/**
 * Platforms (`linux/amd64`, `linux/arm/v7`): parsing, the host's platform in OCI terms, and picking a manifest
 * out of an image index the way containerd's default matcher does (os and architecture equal, variant equal
 * when both name one).
 */
import { KilnError } from '../errors.js';
import type { Descriptor, Platform } from './types.js';

const NODE_ARCH: Record<string, { architecture: string; variant?: string }> = {
  x64: { architecture: 'amd64' },
  arm64: { architecture: 'arm64', variant: 'v8' },
  arm: { architecture: 'arm', variant: 'v7' },
  ia32: { architecture: '386' },
  ppc64: { architecture: 'ppc64le' },
  s390x: { architecture: 's390x' },
  riscv64: { architecture: 'riscv64' },
};

/** The platform this process runs on, in OCI terms (Node's `x64` is `amd64`). */
export function hostPlatform(): Platform {
  const a = NODE_ARCH[process.arch] ?? { architecture: process.arch };
  const p: Platform = { os: 'linux', architecture: a.architecture };
  if (a.variant) p.variant = a.variant;
  return p;
}

/** Parses `os/arch[/variant]` (or just `arch`, meaning linux); throws INVALID_ARGUMENT. */
export function parsePlatform(s: string): Platform {
  const parts = s.trim().toLowerCase().split('/');
  if (parts.some((x) => x === '') || parts.length > 3) {
    throw new KilnError('INVALID_ARGUMENT', `invalid platform "${s}"`, { hint: 'platforms look like linux/amd64 or linux/arm/v7' });
  }
  const [os, arch, variant] = parts.length === 1 ? ['linux', parts[0]!, undefined] : parts;
  const p: Platform = { os: os!, architecture: normalizeArch(arch!) };
  if (variant) p.variant = variant;
  return p;
}

function normalizeArch(a: string): string {
  switch (a) {
    case 'x86_64':
    case 'x86-64':
      return 'amd64';
    case 'aarch64':
      return 'arm64';
    case 'i386':
      return '386';
    default:
      return a;
  }
}

/** `linux/amd64`, `linux/arm/v7`. */
export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

/** True when `have` can run where `want` is asked for (arm64's v8 variant is the default and may be omitted). */
export function platformMatches(have: Platform | undefined, want: Platform): boolean {
  if (!have) return false;
  if (have.os !== want.os || normalizeArch(have.architecture) !== normalizeArch(want.architecture)) return false;
  const hv = have.variant ?? (have.architecture === 'arm64' ? 'v8' : undefined);
  const wv = want.variant ?? (want.architecture === 'arm64' ? 'v8' : undefined);
  return hv === undefined || wv === undefined || hv === wv;
}

/** The first manifest of an index matching `want` (default: the host). Attestation manifests are skipped. */
export function selectManifest(manifests: Descriptor[], want: Platform = hostPlatform()): Descriptor | undefined {
  const images = manifests.filter((m) => m.annotations?.['vnd.docker.reference.type'] !== 'attestation-manifest');
  return images.find((m) => platformMatches(m.platform, want)) ?? (images.length === 1 && !images[0]!.platform ? images[0] : undefined);
}

/**
 * `--platform linux/amd64,arm64`: each platform normalised as containerd does (`arm64` = `linux/arm64/v8` =
 * `linux/arm64`, `arm` = `linux/arm/v7`, `x86_64` = `amd64`), duplicates dropped, order kept. Empty: the host's.
 */
export function parsePlatformList(s: string | undefined): string[] {
  if (s === undefined || s.trim() === '') return [formatPlatform(normalizePlatform(hostPlatform()))];
  const out: string[] = [];
  for (const part of s.split(',')) {
    const p = formatPlatform(normalizePlatform(parsePlatform(part)));
    if (!out.includes(p)) out.push(p);
  }
  return out;
}

/** containerd's normal form: arm64's default variant v8 dropped, arm's v7 made explicit, amd64's v1 dropped. */
export function normalizePlatform(p: Platform): Platform {
  const out: Platform = { os: p.os, architecture: normalizeArch(p.architecture) };
  let v = p.variant;
  if (out.architecture === 'armhf') ((out.architecture = 'arm'), (v ??= 'v7'));
  if (out.architecture === 'armel') ((out.architecture = 'arm'), (v ??= 'v6'));
  if (out.architecture === 'arm64' && v === 'v8') v = undefined;
  if (out.architecture === 'arm' && !v) v = 'v7';
  if (out.architecture === 'amd64' && v === 'v1') v = undefined;
  if (v) out.variant = v;
  return out;
}

/** BuildKit's per-platform directory name under a `local`/`tar` output: `linux_amd64`, `linux_arm_v7`. */
export function platformDirName(p: string): string {
  return p.replace(/\//g, '_');
}

/** The platform of an index entry or config, normalised and formatted (`linux/arm64`). */
export function platformOf(p: Platform): string {
  return formatPlatform(normalizePlatform(p));
}
