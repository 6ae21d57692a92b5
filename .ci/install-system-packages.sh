#!/usr/bin/env bash
# Install the Debian packages the test suite needs (PostgreSQL 15 + pgvector, Redis, gettext, Xvfb and X tools,
# Chinese fonts, Tk, the libraries OpenCV loads, Chromium). Does nothing when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
PG_BIN=/usr/lib/postgresql/15/bin
have_all() {
  for tool in make "$PG_BIN/initdb" "$PG_BIN/pg_ctl" psql redis-server msgfmt Xvfb xclip xdotool chromium chromedriver; do
    command -v "$tool" >/dev/null 2>&1 || return 1
  done
  python3.11 -c "import ensurepip, venv" >/dev/null 2>&1 || return 1
  fc-list 2>/dev/null | grep -qi "wenquanyi" || return 1
  # OpenCV (the desktop OCR) loads libGL and libgthread; the fake Qianniu window needs Tk.
  ldconfig -p 2>/dev/null | grep -q "libGL.so.1 " || return 1
  ldconfig -p 2>/dev/null | grep -q "libgthread-2.0.so.0 " || return 1
  python3.11 -c "import tkinter" >/dev/null 2>&1 || return 1
  [ -f "$("$PG_BIN/pg_config" --sharedir 2>/dev/null)/extension/vector.control" ] || return 1
}
if have_all; then
  echo "system packages: all present"; exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "Run as root (or install sudo): Debian packages are needed for the tests." >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  make python3.11 python3.11-venv postgresql postgresql-server-dev-15 redis-server gettext \
  xvfb xclip xdotool fonts-wqy-microhei libgl1 libglib2.0-0 python3-tk build-essential dpkg-dev chromium chromium-driver >/dev/null
$SUDO bash .ci/install-pgvector.sh
# Debian starts its own servers; the tests start theirs on free ports in temporary directories.
$SUDO service postgresql stop >/dev/null 2>&1 || true
$SUDO service redis-server stop >/dev/null 2>&1 || true
echo "system packages: installed"
