# Sourced by install.sh, test.sh and demo.sh: the Python they install into and run, one for all three.
# An active virtual environment (or a conda environment other than base) is used as it is; otherwise the
# repository's own .venv (install.sh creates it), never the system's Python: pip may not change a Python
# that the system manages (PEP 668: "externally-managed-environment"), and should not change any other.
# Sets PYTHON (the interpreter) and BIN (its scripts folder, where `tagger` is installed).
if [ -n "${VIRTUAL_ENV:-}" ]; then
  env_dir=$VIRTUAL_ENV
elif [ -n "${CONDA_PREFIX:-}" ] && [ "${CONDA_DEFAULT_ENV:-base}" != base ]; then
  env_dir=$CONDA_PREFIX
else
  env_dir=$PWD/.venv
fi
BIN=$env_dir/bin
PYTHON=$BIN/python
