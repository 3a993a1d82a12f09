#!/usr/bin/env bash
# bash run_tests.sh [pytest args]   Installs what is missing (via run_all.sh --setup-only), then runs the test suite.
set -euo pipefail
cd "$(dirname "$0")"
bash run_all.sh --setup-only
exec "${PYTHON:-python3}" -m pytest "$@"
