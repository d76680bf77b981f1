/**
 * Platforms as Docker writes them (`linux/arm64`, `linux/arm/v7`) and the automatic platform ARGs BuildKit
 * defines (`TARGETPLATFORM`, `TARGETOS`, … and `BUILDPLATFORM`, … for the machine doing the build).
 */
import { KilnError } from '../errors.js';
import type { PlatformSpec } from './types.js';

const ARCH_ALIASES: Record<string, string> = {
  x86_64: 'amd64',
  x86: '386',
  i386: '386',
  i686: '386',
  aarch64: 'arm64',
  armhf: 'arm',
  armel: 'arm',
};

/** containerd's normalisation: aliases resolved, `arm64/v8` loses its default variant, `arm` gets `v7`. */
export function normalizePlatform(p: PlatformSpec): PlatformSpec {
  const os = p.os.toLowerCase();
  let architecture = p.architecture.toLowerCase();
  let variant = p.variant?.toLowerCase() || undefined;
  if (ARCH_ALIASES[architecture]) {
    if (architecture === 'armhf' && !variant) variant = 'v7';
    if (architecture === 'armel' && !variant) variant = 'v6';
    architecture = ARCH_ALIASES[architecture]!;
  }
  if (architecture === 'arm64' && variant === 'v8') variant = undefined;
  if (architecture === 'arm' && !variant) variant = 'v7';
  if (architecture === 'amd64' && variant === 'v1') variant = undefined;
  return variant ? { os, architecture, variant } : { os, architecture };
}

/** Parses `os/arch[/variant]` (or a bare `arch`, taken as linux). Throws INVALID_ARGUMENT. */
export function parsePlatform(text: string): PlatformSpec {
  const parts = text.trim().split('/');
  if (parts.some((p) => p === '' || !/^[A-Za-z0-9_.-]+$/.test(p)) || parts.length > 3) {
    throw new KilnError('INVALID_ARGUMENT', `invalid platform ${JSON.stringify(text)}`, { hint: 'use os/arch[/variant], e.g. linux/amd64' });
  }
  if (parts.length === 1) return normalizePlatform({ os: 'linux', architecture: parts[0]! });
  return normalizePlatform({ os: parts[0]!, architecture: parts[1]!, variant: parts[2] });
}

/** `linux/arm/v7`. */
export function formatPlatform(p: PlatformSpec): string {
  return p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`;
}

const NODE_ARCH: Record<string, PlatformSpec> = {
  x64: { os: 'linux', architecture: 'amd64' },
  arm64: { os: 'linux', architecture: 'arm64' },
  arm: { os: 'linux', architecture: 'arm', variant: 'v7' },
  ia32: { os: 'linux', architecture: '386' },
  ppc64: { os: 'linux', architecture: 'ppc64le' },
  s390x: { os: 'linux', architecture: 's390x' },
  riscv64: { os: 'linux', architecture: 'riscv64' },
};

/** The platform of this machine (kiln builds Linux images only). */
export function hostPlatform(): PlatformSpec {
  return NODE_ARCH[process.arch] ?? { os: 'linux', architecture: process.arch };
}

/**
 * The automatic ARGs: TARGET* for the platform being built, BUILD* for the build host, TARGETSTAGE for the
 * stage `--target` selects. They are global (usable in FROM) and reach a stage only through `ARG NAME`.
 */
export function automaticPlatformArgs(target: PlatformSpec, build: PlatformSpec, targetStage?: string): Record<string, string> {
  const out: Record<string, string> = {
    BUILDPLATFORM: formatPlatform(build),
    BUILDOS: build.os,
    BUILDARCH: build.architecture,
    BUILDVARIANT: build.variant ?? '',
    TARGETPLATFORM: formatPlatform(target),
    TARGETOS: target.os,
    TARGETARCH: target.architecture,
    TARGETVARIANT: target.variant ?? '',
  };
  if (targetStage !== undefined) out.TARGETSTAGE = targetStage;
  return out;
}
