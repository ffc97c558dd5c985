#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for ckpt's tests: initdb in a temp dir, a loopback port and a
# unix socket in that dir, a role and database `ckpt` with a password.
#
#   .ci/postgres.sh start        prints `CKPT_TEST_POSTGRES_URL=…` and `CKPT_TEST_POSTGRES_DIR=…`
#   .ci/postgres.sh stop DIR     stops that cluster and removes DIR
#   .ci/postgres.sh halt DIR     stops it as a crash would, keeping DIR (`restart DIR` starts it again)
#   source .ci/postgres.sh; ckpt_pg_start; trap ckpt_pg_stop EXIT   (exports both variables)
#
# As root (CI), the server runs as the `postgres` user, which PostgreSQL requires.

ckpt_pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then echo "$dir"; return; fi
  dir=$(dirname "$(command -v initdb 2>/dev/null || command -v pg_ctl 2>/dev/null || echo /nonexistent/x)")
  if [ -x "$dir/initdb" ]; then echo "$dir"; return; fi
  return 1
}

ckpt_pg_install() {
  ckpt_pg_bin >/dev/null && return
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  # Debian's package starts its own cluster; the tests do not use it.
  command -v pg_ctlcluster >/dev/null && pg_lsclusters -h 2>/dev/null | while read -r ver name _; do pg_ctlcluster "$ver" "$name" stop || true; done
  ckpt_pg_bin >/dev/null
}

# Runs a command as the cluster's owner: `postgres` when we are root, ourselves otherwise.
ckpt_pg_as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

ckpt_pg_free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

ckpt_pg_start() {
  local bin dir port password
  bin=$(ckpt_pg_bin) || { echo "PostgreSQL is not installed (run .ci/postgres.sh install)" >&2; return 1; }
  dir=$(mktemp -d "${TMPDIR:-/tmp}/ckpt-pg-XXXXXX")
  chmod 755 "$dir"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir"
  port=$(ckpt_pg_free_port)
  password=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
  echo "$password" >"$dir/pwfile"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir/pwfile"
  ckpt_pg_as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
    --pwfile="$dir/pwfile" -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; return 1; }
  ckpt_pg_as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c full_page_writes=off -c max_connections=200" start >/dev/null \
    || { cat "$dir/server.log" >&2; return 1; }
  ckpt_pg_as_owner "$bin/psql" -h "$dir" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -q \
    -c "CREATE ROLE ckpt LOGIN PASSWORD '$password'" -c "CREATE DATABASE ckpt OWNER ckpt" >/dev/null || return 1
  export CKPT_TEST_POSTGRES_URL="postgres://ckpt:$password@127.0.0.1:$port/ckpt"
  export CKPT_TEST_POSTGRES_DIR="$dir"
}

ckpt_pg_stop() {
  local dir=${1:-${CKPT_TEST_POSTGRES_DIR:-}} bin
  [ -n "$dir" ] && [ -d "$dir/data" ] || return 0
  bin=$(ckpt_pg_bin) && ckpt_pg_as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1
  rm -rf "$dir"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  case "${1:-}" in
    install) ckpt_pg_install ;;
    start) ckpt_pg_install && ckpt_pg_start && echo "CKPT_TEST_POSTGRES_URL=$CKPT_TEST_POSTGRES_URL" && echo "CKPT_TEST_POSTGRES_DIR=$CKPT_TEST_POSTGRES_DIR" ;;
    stop) ckpt_pg_stop "${2:?usage: $0 stop DIR}" ;;
    halt) ckpt_pg_as_owner "$(ckpt_pg_bin)/pg_ctl" -D "${2:?usage: $0 halt DIR}/data" -m immediate -w stop >/dev/null ;;
    restart)
      dir=${2:?usage: $0 restart DIR}
      ckpt_pg_as_owner "$(ckpt_pg_bin)/pg_ctl" -D "$dir/data" -m immediate -w restart >/dev/null ;;
    *) echo "usage: $0 install|start|stop DIR|halt DIR|restart DIR" >&2; exit 64 ;;
  esac
fi
