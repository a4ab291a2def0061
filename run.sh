#!/usr/bin/env bash
# One entry point for people and CI:  ./run.sh demo | test | setup | lock
# It installs the system packages the branch needs (Mosquitto, a CJK font, espeak-ng; for the tests
# PostgreSQL and Chromium too), makes .venv/ at the repo root and installs exactly the versions in
# requirements.lock into it (hashes checked), then the project itself without resolving anything.
set -euo pipefail
cd "$(dirname "$0")"
APT_PACKAGES="mosquitto openssl fonts-wqy-microhei espeak-ng python3-venv"  # openssl: `qcall provision` makes the broker's TLS certificates
# Only the tests need these: a throw-away PostgreSQL cluster and a real headless browser.
APT_TEST_PACKAGES="postgresql chromium chromium-driver"

missing_apt() {  # $@: packages; prints the ones not installed
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || echo "$p"
  done
}

setup() {
  local want="$APT_PACKAGES"
  [ "${1:-}" = test ] && want="$want $APT_TEST_PACKAGES"
  if command -v apt-get >/dev/null 2>&1; then
    # shellcheck disable=SC2086
    local missing; missing=$(missing_apt $want)
    if [ -n "$missing" ]; then
      SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
      $SUDO apt-get update -q
      # shellcheck disable=SC2086
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q $missing
    fi
  fi
  PY="${PYTHON:-python3}"
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  # Exactly the locked versions, every file's hash checked; then the project itself with no
  # dependency resolution at all (its build backend, setuptools, comes from the lock too).
  .venv/bin/python -m pip install -q --require-hashes --no-deps -r requirements.lock
  # (setuptools prints a warning box about editable installs on every run: shown only on failure.)
  local out
  out=$(.venv/bin/python -m pip install -q --no-deps --no-build-isolation -e . 2>&1) \
    || { echo "$out" >&2; return 1; }
  # The hall display's default voice clips (espeak-ng, ~3 s once; var/clips is not in git).
  .venv/bin/qcall voice build --config examples/branch.toml >/dev/null \
    || echo "run.sh: voice clips not made; the display makes them at start or runs silent" >&2
}

cmd="${1:-help}"; shift || true
case "$cmd" in
  setup) setup ;;
  demo)  setup; exec .venv/bin/qcall demo "$@" ;;
  test)
    setup test
    .venv/bin/ruff check .
    .venv/bin/mypy
    exec .venv/bin/python -m pytest "$@" ;;
  lock)
    # Refresh requirements.lock from pyproject.toml's ranges (uv itself is locked in the dev extra).
    [ -x .venv/bin/uv ] || setup
    exec .venv/bin/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
      --generate-hashes --upgrade --quiet -o requirements.lock ;;
  *) echo "usage: ./run.sh demo | test | setup | lock" >&2; exit 2 ;;
esac
