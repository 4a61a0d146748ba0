# shellcheck shell=bash
# PostgreSQL (Debian's server binaries), own cluster under .stack/postgres, set up for Debezium:
# wal_level=logical, 20 replication slots / WAL senders; a slot nobody reads any more holds at
# most 2GB of WAL (max_slot_wal_keep_size), then it is invalidated. Trust auth on 127.0.0.1; superuser
# `postgres`; database `streamscore`. Postgres refuses to run as root, so as root the server runs
# as the `postgres` system user.
#
# TLS (ssl=on, the certificate of lib/certs.sh) for every client that asks for it; the role
# `streamscore_tls` (password in $STACK_DIR/secrets/postgres-password, SCRAM) may only log in over
# TLS from 127.0.0.1 (hostssl; its plaintext attempts are rejected); it owns the schema
# `streamscore_tls` (and may CREATE in the database: a sink's `create schema if not exists` asks).
# Every other role keeps trust auth, with or without TLS.
#
# Durability (STACK_PG_DURABILITY):
#   fast (default)  fsync, synchronous_commit and full_page_writes off: for tests. A crash of the
#                   machine can corrupt the cluster; an immediate stop (postmaster killed, OS alive)
#                   loses the commits of sessions that did not ask for synchronous_commit=on
#                   themselves (the streamscore Postgres sink does, so its writes survive it).
#   durable         all three on, as on a production server: what `make bench` measures with (it
#                   runs its own instance, see test/bench/postgres.ts).

PG_PORT="${STACK_PG_PORT:-15432}"
PG_DURABILITY="${STACK_PG_DURABILITY:-fast}"
PG_ROOT="$STACK_DIR/postgres"
PG_DATA="$PG_ROOT/data"
PG_SOCKET_DIR="$PG_ROOT/socket"
PG_DATABASE=streamscore
PG_TLS_DIR="$PG_ROOT/tls"   # the server's copy of the key: owned by the server's user, mode 600
PG_HBA="$PG_ROOT/pg_hba.conf"

postgres_envvar() { printf 'DATABASE_URL'; }
postgres_url() { printf 'postgres://postgres@127.0.0.1:%s/%s' "$PG_PORT" "$PG_DATABASE"; }
postgres_tls_url() { printf 'postgres://%s@127.0.0.1:%s/%s' "$STACK_PG_TLS_ROLE" "$PG_PORT" "$PG_DATABASE"; }
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

# the server's settings (command-line -c options; they take precedence over postgresql.conf)
pg_server_settings() {
  local -a d
  case "$PG_DURABILITY" in
  fast) d=(-c fsync=off -c synchronous_commit=off -c full_page_writes=off) ;;
  durable) d=(-c fsync=on -c synchronous_commit=on -c full_page_writes=on) ;;
  *) fail "STACK_PG_DURABILITY: expected fast or durable, got '$PG_DURABILITY'"; return 1 ;;
  esac
  printf '%s\n' -D "$PG_DATA" \
    -c listen_addresses=127.0.0.1 -c port="$PG_PORT" -c unix_socket_directories="$PG_SOCKET_DIR" \
    -c hba_file="$PG_HBA" -c ssl=on -c ssl_cert_file="$PG_TLS_DIR/server.pem" \
    -c ssl_key_file="$PG_TLS_DIR/server.key" -c ssl_min_protocol_version=TLSv1.2 \
    -c wal_level=logical -c max_replication_slots=20 -c max_wal_senders=20 \
    -c max_slot_wal_keep_size=2GB \
    -c max_connections=200 -c shared_buffers=128MB \
    "${d[@]}" \
    -c log_min_messages=warning -c log_connections=off
}

# What a running server was started with: its binaries and settings. `up` restarts it when this
# changes (not when only the launcher's own logic in this file does).
postgres_signature() {
  { pg_bindir; printf '\n'; pg_server_settings; pg_hba_lines; cat "$STACK_SERVER_CERT"; } 2>/dev/null |
    sha256sum | cut -c1-16
}

# Who may connect how. The TLS role's plaintext attempts are rejected before the trust lines.
pg_hba_lines() {
  cat <<EOF
# written by infra/local/services/postgres.sh on every start; edit that file, not this one
local     all          all                                trust
hostnossl all          $STACK_PG_TLS_ROLE  127.0.0.1/32   reject
hostnossl all          $STACK_PG_TLS_ROLE  ::1/128        reject
hostssl   all          $STACK_PG_TLS_ROLE  127.0.0.1/32   scram-sha-256
hostssl   all          $STACK_PG_TLS_ROLE  ::1/128        scram-sha-256
host      all          all                 127.0.0.1/32   trust
host      all          all                 ::1/128        trust
local     replication  all                                trust
host      replication  all                 127.0.0.1/32   trust
host      replication  all                 ::1/128        trust
EOF
}

# the server's TLS files and pg_hba.conf, readable by the server's user (its key: only by it)
pg_write_access_files() {
  mkdir -p "$PG_TLS_DIR"
  cp "$STACK_SERVER_CERT" "$PG_TLS_DIR/server.pem" && cp "$STACK_SERVER_KEY" "$PG_TLS_DIR/server.key" ||
    { fail "postgres: could not copy the server certificate (lib/certs.sh)"; return 1; }
  chmod 600 "$PG_TLS_DIR/server.key"
  pg_hba_lines >"$PG_HBA"
  if ((EUID == 0)); then chown -R postgres:postgres "$PG_TLS_DIR" "$PG_HBA"; fi
}

# PID is a live (not zombie) postmaster of our data directory: its command line is
# `<bindir>/postgres -D $PG_DATA …`. A pid file can outlive its process: after an immediate stop
# or a kill the postmaster stays a zombie for a while when its parent (init here) is slow to reap
# it, and after a reboot the number may belong to anything.
postgres_owns_pid() {
  local pid="$1" i
  local -a argv
  pid_running "$pid" || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 0 # no /proc: trust the pid
  mapfile -d '' -t argv <"/proc/$pid/cmdline" 2>/dev/null || return 1
  [[ "${argv[0]:-}" == */postgres || "${argv[0]:-}" == postgres ]] || return 1
  for ((i = 1; i + 1 < ${#argv[@]}; i++)); do
    [[ "${argv[i]}" == -D && "${argv[i + 1]}" == "$PG_DATA" ]] && return 0
  done
  return 1
}

# Processes still working in the data directory (backends of a killed postmaster exit on their
# own within moments; a second postmaster must never start beside them).
pg_leftover_pids() {
  local p real
  real="$(realpath "$PG_DATA" 2>/dev/null)" || return 0
  for p in /proc/[0-9]*; do
    [[ "$(readlink "$p/cwd" 2>/dev/null)" == "$real" ]] || continue
    pid_running "${p#/proc/}" && printf '%s ' "${p#/proc/}"
  done
}

# The lock files a killed postmaster (SIGKILL, OOM) leaves behind, postmaster.pid and the socket's
# .s.PGSQL.<port>.lock, name a process that is gone, a zombie, or since reused. Postgres refuses
# to start while that pid answers kill -0 ("lock file … already exists"), so remove them once
# nothing runs in the data directory any more.
pg_clear_stale_locks() {
  local lock pid left i
  for lock in "$PG_DATA/postmaster.pid" "$PG_SOCKET_DIR/.s.PGSQL.$PG_PORT.lock"; do
    [[ -f "$lock" ]] || continue
    pid="$(head -1 "$lock" 2>/dev/null)"
    if [[ "$pid" =~ ^[0-9]+$ ]] && postgres_owns_pid "$pid"; then
      fail "postgres: a postmaster (pid $pid) already runs on ${PG_DATA#"$REPO_ROOT"/} without the launcher's pid file; stop it first"
      return 1
    fi
    for ((i = 0; i < 50; i++)); do
      left="$(pg_leftover_pids)"
      [[ -z "$left" ]] && break
      sleep 0.2
    done
    if [[ -n "$left" ]]; then
      fail "postgres: processes of a stopped server still run in ${PG_DATA#"$REPO_ROOT"/} (pids $left); stop them first"
      return 1
    fi
    note "  postgres: removing a stale ${lock##*/} (pid $pid is no postmaster of this cluster)"
    rm -f "$lock"
  done
}

postgres_start() {
  local bin
  bin="$(pg_bindir)" || { fail "postgres server binaries not found (looked in /usr/lib/postgresql/*/bin); run: make deps"; return 1; }
  pg_prepare "$bin" || return 1
  pg_clear_stale_locks || return 1
  pg_write_access_files || return 1
  local -a as_user=() settings=()
  mapfile -t settings < <(pg_server_settings) && ((${#settings[@]})) || return 1
  ((EUID == 0)) && as_user=(setpriv --reuid=postgres --regid=postgres --init-groups --)
  start_bg postgres "$LOG_DIR/postgres.log" "${as_user[@]}" "$bin/postgres" "${settings[@]}"
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
  pg_ensure_tls_role "$psql"
}

# the TLS-only role, its password (set again on every start) and its schema
pg_ensure_tls_role() {
  local psql="$1" pw
  pw="$(<"$(secret_file postgres)")" || { fail "postgres: no password file for $STACK_PG_TLS_ROLE"; return 1; }
  PGOPTIONS="-c streamscore.pw=$pw -c client_min_messages=warning" "$psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d "$PG_DATABASE" \
    -v ON_ERROR_STOP=1 -q >/dev/null <<EOF ||
do \$\$ begin
  if not exists (select from pg_roles where rolname = '$STACK_PG_TLS_ROLE') then
    create role $STACK_PG_TLS_ROLE login;
  end if;
  execute format('alter role $STACK_PG_TLS_ROLE password %L', current_setting('streamscore.pw'));
end \$\$;
create schema if not exists $STACK_PG_TLS_ROLE authorization $STACK_PG_TLS_ROLE;
grant create on database $PG_DATABASE to $STACK_PG_TLS_ROLE;
EOF
    { fail "postgres: could not set up the TLS role $STACK_PG_TLS_ROLE"; return 1; }
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
    pid_running "$pid" || pgrp_alive "$pid" || return 0
    sleep 0.2
  done
  stop_pid postgres "$pid" 10
}
