#!/usr/bin/env bash
# Builds kiln's native parts with the C compiler, each only when its source is newer:
#   build/kiln-fsx.node   xattrs, mknod and mount(2) for layers and snapshots (fsx.c), with Node-API headers
#   build/kiln-launcher   bin/kiln's fast path to the resident builder (launcher.c)
#   build/kiln-tty-shim   runs a container process with a terminal kiln relays (tty-shim.c)
# Usage: bash native/build.sh
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p build
out=build/kiln-fsx.node
if ! { [ -f "$out" ] && [ "$out" -nt fsx.c ]; }; then
  inc="$(node -p "require('path').join(process.execPath, '..', '..', 'include', 'node')")"
  [ -f "$inc/node_api.h" ] || inc=/usr/include/node
  cc -O2 -Wall -shared -fPIC -DNODE_GYP_MODULE_NAME=kiln_fsx -I"$inc" fsx.c -o "$out.tmp"
  mv "$out.tmp" "$out"
fi
launcher=build/kiln-launcher
if ! { [ -f "$launcher" ] && [ "$launcher" -nt launcher.c ]; }; then
  cc -O2 -Wall -Wextra -o "$launcher.tmp" launcher.c
  mv "$launcher.tmp" "$launcher"
fi
shim=build/kiln-tty-shim
if ! { [ -f "$shim" ] && [ "$shim" -nt tty-shim.c ]; }; then
  cc -O2 -Wall -Wextra -o "$shim.tmp" tty-shim.c
  mv "$shim.tmp" "$shim"
fi
