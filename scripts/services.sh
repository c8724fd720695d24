#!/usr/bin/env bash
# Brings up the Postgres and Redis that clerksync and its tests need on this
# machine: starts them when they are down, and installs Debian's packages
# first on a machine that has none. Idempotent; prints one line per service.
set -euo pipefail

PGHOST=127.0.0.1 PGPORT=5432 REDIS_PORT=6379

sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
  command -v apt-get >/dev/null || { echo "services: $1 is missing and this is not a Debian machine: install it yourself" >&2; exit 1; }
  echo "services: installing $*" >&2
  sudo_ apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive sudo_ apt-get install -y -qq "$@" >/dev/null
}

pg_up() { pg_isready -q -h "$PGHOST" -p "$PGPORT" 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }

wait_for() { # wait_for NAME CHECK
  for _ in $(seq 1 60); do "$2" && return 0; sleep 0.5; done
  echo "services: $1 did not come up" >&2; exit 1
}

# --- Postgres ---
if ! pg_up; then
  command -v pg_ctlcluster >/dev/null || apt_install postgresql postgresql-client
  version=$(ls /etc/postgresql | sort -V | tail -n1)
  fresh_install=0
  [ -f "/etc/postgresql/$version/main/.clerksync-configured" ] || fresh_install=1
  if [ "$fresh_install" = 1 ] && ! grep -q "^host.*127.0.0.1/32.*trust" "/etc/postgresql/$version/main/pg_hba.conf"; then
    # A development machine: local TCP connections as on CI (trust auth).
    sudo_ sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "/etc/postgresql/$version/main/pg_hba.conf"
  fi
  sudo_ touch "/etc/postgresql/$version/main/.clerksync-configured"
  sudo_ pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  wait_for Postgres pg_up
fi
echo "services: Postgres is up on $PGHOST:$PGPORT"

# --- Redis ---
if ! redis_up; then
  command -v redis-server >/dev/null || apt_install redis-server
  sudo_ mkdir -p /var/lib/redis /var/log/redis
  # noeviction: an evicted task is a lost sync.
  sudo_ redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" --appendonly no \
    --maxmemory-policy noeviction --dir /var/lib/redis --logfile /var/log/redis/clerksync.log
  wait_for Redis redis_up
fi
echo "services: Redis is up on 127.0.0.1:$REDIS_PORT"

# --- the development database (make run) ---
if [ "${1:-}" = "--create-db" ]; then
  db=${2:-clerksync}
  if ! psql -h "$PGHOST" -p "$PGPORT" -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
    psql -h "$PGHOST" -p "$PGPORT" -U postgres -d postgres -qc "CREATE DATABASE $db" >/dev/null
    echo "services: created database $db"
  fi
fi
