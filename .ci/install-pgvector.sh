#!/usr/bin/env bash
# Build and install pgvector for the local PostgreSQL 15. Debian 12 does not
# package it, so build Debian trixie's source package (0.8.0) in a private apt
# state directory that leaves the system's sources untouched.
set -euo pipefail
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
if [ -f "$("$PG_CONFIG" --sharedir)/extension/vector.control" ]; then
  echo "pgvector already installed"; exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
mkdir -p state/lists/partial cache/archives/partial
echo "deb-src http://deb.debian.org/debian trixie main" > sources.list
APT=(-o Dir::Etc::sourcelist="$work/sources.list" -o Dir::Etc::sourceparts=- -o Dir::State="$work/state"
     -o Dir::Cache="$work/cache" -o APT::Get::List-Cleanup=0)
apt-get "${APT[@]}" update -qq
apt-get "${APT[@]}" source --download-only pgvector >/dev/null 2>&1
tar xzf pgvector_*.orig.tar.gz
cd pgvector-*/
make -s PG_CONFIG="$PG_CONFIG" OPTFLAGS="" >/dev/null
make -s PG_CONFIG="$PG_CONFIG" OPTFLAGS="" install >/dev/null
echo "pgvector installed for $("$PG_CONFIG" --version)"
