#!/usr/bin/env bash
# One entry point for people and CI:  ./run.sh demo   |   ./run.sh test   |   ./run.sh setup
# It installs the system packages the branch needs (Mosquitto, a CJK font, espeak-ng), makes .venv/
# at the repo root and installs the project into it, then runs what was asked.
set -euo pipefail
cd "$(dirname "$0")"
APT_PACKAGES="mosquitto fonts-wqy-microhei espeak-ng python3-venv"

need_apt() {
  command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || return 0
  [ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || return 0
  command -v espeak-ng >/dev/null 2>&1 || return 0
  return 1
}

setup() {
  if command -v apt-get >/dev/null 2>&1 && need_apt; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q $APT_PACKAGES
  fi
  PY="${PYTHON:-python3}"
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e '.[dev]'
  # The hall display's default voice clips (espeak-ng, ~3 s once; var/clips is not in git).
  .venv/bin/qcall voice build --config examples/branch.toml >/dev/null \
    || echo "run.sh: voice clips not made; the display makes them at start or runs silent" >&2
}

cmd="${1:-help}"; shift || true
case "$cmd" in
  setup) setup ;;
  demo)  setup; exec .venv/bin/qcall demo "$@" ;;
  test)
    setup
    .venv/bin/ruff check .
    .venv/bin/mypy qcore qbus
    exec .venv/bin/python -m pytest "$@" ;;
  *) echo "usage: ./run.sh demo | test | setup" >&2; exit 2 ;;
esac
