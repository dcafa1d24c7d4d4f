#!/usr/bin/env bash
# Starts, or reuses, a throwaway PostgreSQL cluster for the tests: listening on 127.0.0.1 only, on
# a free port, trust auth, data under ${SKIPSERVE_PG_DIR:-/tmp/skipserve-test-pg}. Exports its URL
# as SKIPSERVE_TEST_PG_URL when sourced (`source .ci/postgres.sh`, as .ci/run does) and prints it.
# Installs Debian's `postgresql` when no server binaries are there, unless SKIPSERVE_PG_NO_INSTALL=1.
# Idempotent: a cluster already running in that folder is reused; a dead one is recreated.

skipserve_pg_start() {
  local dir="${SKIPSERVE_PG_DIR:-/tmp/skipserve-test-pg}" pgbin port url
  pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [[ ! -x "$pgbin/initdb" ]]; then
    if [[ "${SKIPSERVE_PG_NO_INSTALL:-0}" == 1 ]]; then
      echo "postgres.sh: no PostgreSQL server binaries under /usr/lib/postgresql (apt-get install postgresql)" >&2
      return 1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get update -qq || return 1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null || return 1
    pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
  # The server refuses to run as root: as root, run its tools as the `postgres` user from `/`.
  local -a as=()
  if [[ $(id -u) == 0 ]]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres || return 1
    as=("$(command -v runuser || echo /usr/sbin/runuser)" -u postgres --)
  fi
  if [[ -f "$dir/url" ]] && (cd / && "${as[@]}" "$pgbin/pg_ctl" status -D "$dir/data" >/dev/null 2>&1); then
    url=$(cat "$dir/url")
  else
    if [[ -d "$dir/data" ]]; then
      (cd / && "${as[@]}" "$pgbin/pg_ctl" stop -D "$dir/data" -m immediate >/dev/null 2>&1) || true
    fi
    rm -rf "$dir" && mkdir -p "$dir/data" || return 1
    [[ ${#as[@]} -eq 0 ]] || chown -R postgres:postgres "$dir"
    chmod 700 "$dir/data"
    (cd / && "${as[@]}" "$pgbin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1) || {
      cat "$dir/initdb.log" >&2
      return 1
    }
    port=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})") || return 1
    (cd / && "${as[@]}" "$pgbin/pg_ctl" start -D "$dir/data" -l "$dir/data/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir/data" >/dev/null) || {
      cat "$dir/data/server.log" >&2
      return 1
    }
    url="postgres://postgres@127.0.0.1:$port/postgres"
    echo "$url" >"$dir/url"
  fi
  export SKIPSERVE_TEST_PG_URL="$url"
  echo "SKIPSERVE_TEST_PG_URL=$url"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  set -euo pipefail
  skipserve_pg_start
else
  skipserve_pg_start || return 1
fi
