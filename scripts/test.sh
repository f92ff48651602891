#!/usr/bin/env bash
# Install everything, then run the whole test suite with the same Python (the command CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
source scripts/python_env.sh
"$PYTHON" -m pytest -q "$@"
