#!/usr/bin/env bash
# Install tagger and its test tools (editable) into the Python of scripts/python_env.sh: the active
# virtual environment, else .venv in the repository, created here from python3 with
# --system-site-packages, so a torch the machine has already is used instead of downloaded again.
# torch comes first and pinned, so pip takes the CPU build instead of pulling CUDA packages.
# --dry-run prints the commands without running them.
set -euo pipefail
cd "$(dirname "$0")/.."
dry_run=false
[ "${1:-}" = --dry-run ] && dry_run=true
run() {
  echo "+ $*"
  "$dry_run" || "$@"
}
source scripts/python_env.sh
if [ ! -x "$PYTHON" ] && [ "$BIN" != "$PWD/.venv/bin" ]; then
  echo "install.sh: the active environment $(dirname "$BIN") has no bin/python; activate another, or deactivate it" \
       "to install into .venv here" >&2
  exit 1
fi
if [ ! -x "$PYTHON" ]; then
  base=$(command -v python3 || command -v python || true)
  if [ -z "$base" ] || ! "$base" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
    echo "install.sh: tagger needs Python 3.10 or newer as python3 (found: ${base:-none})" >&2
    exit 1
  fi
  if ! "$base" -c 'import ensurepip, venv' 2>/dev/null; then
    echo "install.sh: $base cannot create a virtual environment; install its venv module (Debian, Ubuntu:" \
         "apt install python3-venv) or activate an environment of your own first" >&2
    exit 1
  fi
  run "$base" -m venv --system-site-packages .venv
fi
run "$PYTHON" -m pip install --quiet "torch==2.13.0"
run "$PYTHON" -m pip install --quiet -e ".[dev]"
if "$dry_run"; then
  echo "(a dry run: nothing was installed)"
elif [ "$BIN" = "$PWD/.venv/bin" ]; then
  echo "tagger is installed in $PWD/.venv: run 'source .venv/bin/activate' to use the tagger command" \
       "(scripts/test.sh and scripts/demo.sh use it already)"
fi
