#!/usr/bin/env bash
# The main job: set up, make the offline busybox base image, build fixtures/hello, run it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
kiln() { bin/kiln "$@"; }
kiln base busybox >/dev/null          # busybox:latest from Debian's busybox-static, when missing
kiln build -t hello fixtures/hello
kiln run --rm hello
