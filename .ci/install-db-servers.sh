#!/bin/sh
# Install the MariaDB and PostgreSQL server binaries the test suite needs (Debian/Ubuntu).
#
# The tests start their own private servers in temporary directories (tests/dbservers.py); they only
# need the programs. This script is idempotent and needs no TTY. It installs the packages when the
# programs are missing, then makes sure the services the packages may have started on the default
# ports (3306, 5432) are stopped again: tests must not depend on them.
# Those services are stopped only when this run installed the packages or when $CI is set (CI
# machines): on a developer's machine an already installed MariaDB/PostgreSQL service is theirs.
#
# Usage (as root, or as a user with password-less sudo):  sh .ci/install-db-servers.sh
set -eu

log() { printf 'install-db-servers: %s\n' "$*"; }

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo -n"  # -n: fail instead of prompting (CI has no TTY)
else
    SUDO=""
fi

# sbin is often not on a non-root PATH; PostgreSQL's programs live in a versioned directory.
PATH="$PATH:/usr/sbin:/sbin:/usr/local/sbin"

have_mariadb() {
    command -v mariadbd >/dev/null 2>&1 || command -v mysqld >/dev/null 2>&1
}

have_postgresql() {
    command -v initdb >/dev/null 2>&1 && return 0
    for f in /usr/lib/postgresql/*/bin/initdb; do
        [ -x "$f" ] && return 0
    done
    return 1
}

# `ALX_TEST_DATABASES=sqlite make test` needs no server: nothing to install.
case ",${ALX_TEST_DATABASES:-sqlite,mariadb,postgresql}," in
    *,mariadb,*|*,postgresql,*) ;;
    *) log "ALX_TEST_DATABASES=${ALX_TEST_DATABASES} selects no server: nothing to do"; exit 0 ;;
esac

installed_now=no
if have_mariadb && have_postgresql; then
    log "mariadb-server and postgresql already installed, nothing to install"
else
    installed_now=yes
    if [ "$(id -u)" -ne 0 ] && [ -z "$SUDO" ]; then
        log "ERROR: packages missing and not root (no sudo): run as root" >&2
        exit 1
    fi
    log "installing mariadb-server postgresql"
    export DEBIAN_FRONTEND=noninteractive
    # Wait for the dpkg lock rather than failing: fresh machines often run unattended-upgrades at boot.
    APT_OPTS="-o DPkg::Lock::Timeout=300"
    # shellcheck disable=SC2086
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get $APT_OPTS update </dev/null
    # shellcheck disable=SC2086
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get $APT_OPTS install -y mariadb-server postgresql </dev/null
    if ! have_mariadb || ! have_postgresql; then
        log "ERROR: installation finished but mariadbd or initdb is still missing" >&2
        exit 1
    fi
    log "installed"
fi

# Versions in the CI log.
mariadbd_bin=$(command -v mariadbd || command -v mysqld)
log "$("$mariadbd_bin" --version)"
for f in /usr/lib/postgresql/*/bin/postgres; do
    if [ -x "$f" ]; then log "$("$f" --version)"; fi
done

# --- Stop the packaged services if the installation (or the machine) started them. ----------------
# By their service scripts, never by process name: the test suite's own servers must not be touched.

if [ "$installed_now" = no ] && [ -z "${CI:-}" ]; then
    log "not touching already installed database services (not installed by this run, \$CI unset)"
    exit 0
fi

service_is_running() {
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        systemctl is-active --quiet "$1"
    elif command -v service >/dev/null 2>&1; then
        $SUDO service "$1" status >/dev/null 2>&1
    else
        return 1
    fi
}

stop_service() {
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        $SUDO systemctl stop "$1"
    else
        $SUDO service "$1" stop </dev/null
    fi
}

mariadb_running=no
for svc in mariadb mysql; do
    if service_is_running "$svc"; then
        log "stopping the packaged $svc service"
        stop_service "$svc"
        mariadb_running=yes
        break  # mysql is an alias of mariadb on Debian
    fi
done
if [ "$mariadb_running" = no ]; then log "packaged MariaDB service not running"; fi

# PostgreSQL: each cluster (normally 15/main on port 5432) separately, with Debian's tools.
if command -v pg_lsclusters >/dev/null 2>&1; then
    # Columns: Ver Cluster Port Status Owner Data-directory Log-file
    pg_lsclusters --no-header 2>/dev/null | while read -r ver cluster port status _rest; do
        case "$status" in
            online*)
                log "stopping the packaged PostgreSQL cluster $ver/$cluster (port $port)"
                $SUDO pg_ctlcluster "$ver" "$cluster" stop </dev/null
                ;;
            *)
                log "packaged PostgreSQL cluster $ver/$cluster not running"
                ;;
        esac
    done
    # The loop ran in a subshell (pipe), so check the outcome again.
    if pg_lsclusters --no-header 2>/dev/null | awk '{print $4}' | grep -q '^online'; then
        log "ERROR: a packaged PostgreSQL cluster is still online" >&2
        exit 1
    fi
elif service_is_running postgresql; then
    log "stopping the packaged postgresql service"
    stop_service postgresql
else
    log "packaged PostgreSQL service not running"
fi

log "done"
