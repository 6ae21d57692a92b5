#!/usr/bin/env bash
# apt-ensure.sh CHECK PACKAGE [CHECK PACKAGE …]: install each Debian PACKAGE whose CHECK command fails.
# A CHECK is a shell command, e.g. "command -v msgfmt".
set -euo pipefail
missing=()
while [ $# -ge 2 ]; do
  bash -c "$1" >/dev/null 2>&1 || missing+=("$2")
  shift 2
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "Please install: ${missing[*]} (apt-get install, as root)" >&2; exit 1; }
  SUDO=sudo
fi
echo "Installing Debian packages: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
