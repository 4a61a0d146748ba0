# shellcheck shell=bash
# PostgreSQL (Debian's server binaries), own cluster under .stack/postgres, set up for Debezium:
# wal_level=logical, 20 replication slots / WAL senders; a slot nobody reads any more holds at
# most 2GB of WAL (max_slot_wal_keep_size), then it is invalidated. Trust auth on 127.0.0.1; superuser
# `postgres`; database `streamscore`. Postgres refuses to run as root, so as root the server runs
# as the `postgres` system user.

PG_PORT="${STACK_PG_PORT:-15432}"
PG_ROOT="$STACK_DIR/postgres"
PG_DATA="$PG_ROOT/data"
PG_SOCKET_DIR="$PG_ROOT/socket"
PG_DATABASE=streamscore

postgres_envvar() { printf 'DATABASE_URL'; }
postgres_url() { printf 'postgres://postgres@127.0.0.1:%s/%s' "$PG_PORT" "$PG_DATABASE"; }
postgres_port() { printf '%s' "$PG_PORT"; }
postgres_fetch() { :; }

pg_bindir() {
  local d
  if [[ -n "${STACK_PG_BIN:-}" ]]; then printf '%s' "$STACK_PG_BIN"; return 0; fi
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
  [[ -z "$d" ]] && d="$(dirname "$(command -v initdb 2>/dev/null || printf '/nonexistent/initdb')")"
  [[ -x "$d/postgres" && -x "$d/initdb" ]] || return 1
  printf '%s' "$d"
}

# the OS user the server runs as: `postgres` when we are root, else ourselves
pg_os_user() { if ((EUID == 0)); then printf 'postgres'; else id -un; fi; }

# as_pg CMD...: run CMD as that user (exec, no extra process in between)
as_pg() {
  if ((EUID == 0)); then
    setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
  else
    "$@"
  fi
}

pg_prepare() {
  local bin="$1" log="$LOG_DIR/postgres.log"
  if ((EUID == 0)) && ! id postgres >/dev/null 2>&1; then
    useradd --system --user-group --home-dir /var/lib/postgresql --shell /usr/sbin/nologin postgres ||
      { fail "postgres: could not create the postgres system user"; return 1; }
  fi
  mkdir -p "$PG_ROOT" "$PG_SOCKET_DIR"
  ((EUID == 0)) && chown postgres:postgres "$PG_ROOT" "$PG_SOCKET_DIR"
  if ! as_pg test -w "$PG_ROOT"; then
    fail "postgres: user $(pg_os_user) cannot write $PG_ROOT (a parent directory is not traversable?)"
    return 1
  fi
  [[ -f "$PG_DATA/PG_VERSION" ]] && return 0
  note "postgres: initdb ${PG_DATA#"$REPO_ROOT"/}"
  as_pg "$bin/initdb" -D "$PG_DATA" -U postgres --auth=trust --encoding=UTF8 --no-locale >>"$log" 2>&1 ||
    { fail "postgres: initdb failed"; return 1; }
}

postgres_start() {
  local bin
  bin="$(pg_bindir)" || { fail "postgres server binaries not found (looked in /usr/lib/postgresql/*/bin); run: make deps"; return 1; }
  pg_prepare "$bin" || return 1
  local -a as_user=()
  ((EUID == 0)) && as_user=(setpriv --reuid=postgres --regid=postgres --init-groups --)
  start_bg postgres "$LOG_DIR/postgres.log" "${as_user[@]}" "$bin/postgres" -D "$PG_DATA" \
    -c listen_addresses=127.0.0.1 -c port="$PG_PORT" -c unix_socket_directories="$PG_SOCKET_DIR" \
    -c wal_level=logical -c max_replication_slots=20 -c max_wal_senders=20 \
    -c max_slot_wal_keep_size=2GB \
    -c max_connections=200 -c shared_buffers=128MB \
    -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
    -c log_min_messages=warning -c log_connections=off
}

# after it answers: make sure the streamscore database exists
postgres_after_healthy() {
  local psql
  psql="$(pg_bindir)/psql"
  if [[ "$("$psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -tAc \
    "select 1 from pg_database where datname = '$PG_DATABASE'" 2>/dev/null)" != 1 ]]; then
    "$psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -qc "create database $PG_DATABASE" >/dev/null ||
      { fail "postgres: could not create database $PG_DATABASE"; return 1; }
  fi
}

# healthy = pg_isready says the server accepts connections
postgres_health() {
  local url="${1:-$(postgres_url)}" bin
  bin="$(pg_bindir 2>/dev/null)" || bin=""
  if [[ -n "$bin" && -x "$bin/pg_isready" ]]; then
    "$bin/pg_isready" -q -d "$url" -t 3 || return 1
  else
    local host port
    read -r host port <<<"$(url_host_port "$url")"
    port_open "$host" "$port" || return 1
  fi
}

# fast shutdown (SIGINT): rolls back open transactions instead of waiting for clients
postgres_stop() {
  local pid="$1" i
  kill -INT "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || pgrp_alive "$pid" || return 0
    sleep 0.2
  done
  stop_pid postgres "$pid" 10
}
