#!/usr/bin/env bash
# Builds native/build/kiln-fsx.node (xattrs and mknod for layers; see fsx.c) with the C compiler and the
# Node-API headers that ship with Node. Rebuilds only when fsx.c is newer. Usage: bash native/build.sh
set -euo pipefail
cd "$(dirname "$0")"
out=build/kiln-fsx.node
if [ -f "$out" ] && [ "$out" -nt fsx.c ]; then exit 0; fi
inc="$(node -p "require('path').join(process.execPath, '..', '..', 'include', 'node')")"
[ -f "$inc/node_api.h" ] || inc=/usr/include/node
mkdir -p build
cc -O2 -Wall -shared -fPIC -DNODE_GYP_MODULE_NAME=kiln_fsx -I"$inc" fsx.c -o "$out.tmp"
mv "$out.tmp" "$out"
