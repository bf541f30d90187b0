#!/bin/sh
# Install mysqlclient (the C MariaDB/MySQL driver, `pip install '.[mysqlclient]'`) into a venv.
#
# mysqlclient ships no Linux wheels: pip builds it against libmariadb, so the build needs the
# Debian packages libmariadb-dev, pkg-config and a C compiler (and the Python headers, which a
# Debian python3 keeps in python3-dev). They are installed when missing. Idempotent, no TTY.
#
# Usage (as root, or with password-less sudo):  sh .ci/install-mysqlclient.sh .venv/bin/python
set -eu

PY=${1:-python3}
log() { printf 'install-mysqlclient: %s\n' "$*"; }

if "$PY" -c 'import MySQLdb' 2>/dev/null; then
    log "mysqlclient already installed"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else SUDO=""; fi

packages=""
pkg-config --exists libmariadb 2>/dev/null || pkg-config --exists mysqlclient 2>/dev/null || packages="libmariadb-dev"
command -v pkg-config >/dev/null 2>&1 || packages="$packages pkg-config"
command -v cc >/dev/null 2>&1 || packages="$packages gcc"
include=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
[ -f "$include/Python.h" ] || packages="$packages python3-dev"

if [ -n "$packages" ]; then
    log "installing$packages (to build mysqlclient)"
    APT_OPTS="-o DPkg::Lock::Timeout=300"
    # shellcheck disable=SC2086
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get $APT_OPTS update </dev/null
    # shellcheck disable=SC2086
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get $APT_OPTS install -y $packages </dev/null
fi

log "building mysqlclient"
"$PY" -m pip install --quiet 'mysqlclient>=2.2'
"$PY" -c 'import MySQLdb; print("install-mysqlclient: mysqlclient", ".".join(map(str, MySQLdb.version_info[:3])))'
