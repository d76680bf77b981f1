#!/usr/bin/env bash
# Installs what kiln needs on a Debian machine with Node 20+ and root, then builds kiln.
# Idempotent and quiet when everything is already there. Usage: bash scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: command -> package.
declare -A need=(
  [runc]=runc
  [docker-registry]=docker-registry
  [skopeo]=skopeo
  [umoci]=umoci
  [busybox]=busybox-static
  [zstd]=zstd
  [iptables]=iptables
  [ip]=iproute2
  [curl]=curl
  [buildah]=buildah
  [bzip2]=bzip2
  [xz]=xz-utils
  [cc]=gcc
  [htpasswd]=apache2-utils
  [ssh-agent]=openssh-client
  [kubectl]=kubernetes-client
  [docker-compose]=docker-compose
  [dockerd]=docker.io
  [chromium]=chromium
)
missing=()
for cmd in "${!need[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin:/sbin" command -v "$cmd" >/dev/null 2>&1 || missing+=("${need[$cmd]}")
done
# busybox must be the static build: the base image copies the binary into an empty root.
if command -v busybox >/dev/null 2>&1 && ldd "$(command -v busybox)" >/dev/null 2>&1; then missing+=(busybox-static); fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]} (run as root to install them)" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Multi-platform builds: qemu-user-static runs foreign RUN steps (registered by `kiln setup binfmt` or by the
# tests that need it, never here), and busybox-static of other architectures makes the offline multi-platform
# base image (`kiln base busybox --platform …`) from .debs kept in /var/cache/kiln/debs.
if [ "$(id -u)" = 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  if [ ! -x /usr/bin/qemu-aarch64-static ]; then
    echo "setup: installing qemu-user-static"
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends qemu-user-static >/dev/null
  fi
  debdir=/var/cache/kiln/debs
  mkdir -p "$debdir"
  want=()
  # (riscv64: Debian 12 has no busybox-static for it; Debian 13 does.)
  for arch in arm64 armhf ppc64el s390x; do
    ls "$debdir"/busybox-static_*_"$arch".deb >/dev/null 2>&1 || want+=("$arch")
  done
  if [ ${#want[@]} -gt 0 ]; then
    echo "setup: fetching busybox-static for ${want[*]} into $debdir"
    for arch in "${want[@]}"; do dpkg --add-architecture "$arch"; done
    # A mirror mid-sync fails some lists: what did download is enough for the packages that are there.
    apt-get update -qq >/dev/null 2>&1 || echo "setup: apt-get update reported errors (continuing)" >&2
    # apt-get download writes into the current directory; _apt cannot write there, so it downloads as root.
    for arch in "${want[@]}"; do
      (cd "$debdir" && apt-get download -qq "busybox-static:$arch" >/dev/null 2>&1) || echo "setup: could not fetch busybox-static:$arch (kiln base busybox --platform for it will say so)" >&2
    done
  fi
fi

# Node dependencies, pinned by the lock file; rebuilt only when the lock file changed.
stamp=node_modules/.kiln-lock-stamp
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  npm ci --no-fund --no-audit --loglevel=error >/dev/null
  cp package-lock.json "$stamp"
fi

# kiln's native helper for layers (xattrs, mknod): native/fsx.c, rebuilt only when changed.
bash native/build.sh

# Compile TypeScript to dist/ (the bin runs compiled JavaScript).
npx --no-install tsc -p tsconfig.json
node scripts/stamp-build.mjs
