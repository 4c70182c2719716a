#!/usr/bin/env bash
# Installs the system packages schedd builds and tests with (Debian/Ubuntu), if missing:
# libsqlite3-dev (GRDB links the system SQLite), sqlite3 (users, and the integration
# tests, read the database with it), util-linux's setpriv, python3 (man pages, and the
# test that checks them), promtool (the metrics' format), and chromium with python3-websockets
# (the dashboard's browser test), and PostgreSQL's server (cluster mode's tests start a throwaway one).
set -euo pipefail
missing=()
dpkg -s libsqlite3-dev >/dev/null 2>&1 || missing+=(libsqlite3-dev)
command -v sqlite3 >/dev/null 2>&1 || missing+=(sqlite3)
# setpriv: the tests act as other local accounts with it, and an engine without
# schedd-cgroup-exec beside it switches the runs of jobs with a "user"/"group" with it
# (essential on Debian; minimal images may lack it).
[ -x /usr/bin/setpriv ] || missing+=(util-linux)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
# promtool, from Debian's prometheus package: the tests check the metrics' format with it.
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
# The dashboard's browser test: headless Chromium, driven from Debian's python3 over the
# DevTools protocol with its websockets module.
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c "import websockets" >/dev/null 2>&1 || missing+=(python3-websockets)
# Cluster mode: the tests start their own server from Debian's binaries (the package's default
# cluster is not used).
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
