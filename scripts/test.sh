#!/usr/bin/env bash
# Sets everything up and runs the whole test suite (unit, then integration). Ends with "N passed, N failed, N skipped".
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Lint (type-aware: floating promises, unused names) and formatting fail the run before any test starts.
echo "lint: eslint (src, test, bench, scripts)"
npm run -s lint || { echo "lint failed: fix the findings above (npm run lint)" >&2; exit 1; }
echo "format: prettier --check"
npm run -s format:check || { echo "format check failed: run npm run format" >&2; exit 1; }
exec node scripts/run-tests.mjs "$@"
