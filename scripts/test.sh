#!/usr/bin/env bash
# Sets everything up and runs the whole test suite (unit, then integration). Ends with "N passed, N failed, N skipped".
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node scripts/run-tests.mjs "$@"
