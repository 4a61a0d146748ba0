# shellcheck shell=bash
# Shared paths and helpers for infra/local/stack. Sourced, never run.

LOCAL_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"      # infra/local
REPO_ROOT="$(cd "$LOCAL_DIR/../.." && pwd)"
STACK_DIR="${STACK_DIR:-$REPO_ROOT/.stack}"
RUN_DIR="$STACK_DIR/run"        # pid files, per-run scratch
LOG_DIR="$STACK_DIR/logs"       # one log per service
LIB_DIR="$STACK_DIR/lib"        # jars copied out of ~/.m2
PLUGIN_DIR="$STACK_DIR/plugins" # Kafka Connect plugin.path
VENV_DIR="$STACK_DIR/venv"      # fakesnow (+ a Java 21 runtime for Apicurio)
ENV_FILE="$STACK_DIR/env"

# How long `up` waits for one service to answer (seconds).
STACK_TIMEOUT="${STACK_TIMEOUT:-180}"

if [[ -t 1 ]]; then
  C_RED=$'\e[31m' C_GREEN=$'\e[32m' C_YELLOW=$'\e[33m' C_DIM=$'\e[2m' C_OFF=$'\e[0m'
else
  C_RED='' C_GREEN='' C_YELLOW='' C_DIM='' C_OFF=''
fi

info() { printf '%s\n' "$*"; }
note() { printf '%s%s%s\n' "$C_DIM" "$*" "$C_OFF"; }
warn() { printf '%swarning:%s %s\n' "$C_YELLOW" "$C_OFF" "$*" >&2; }
fail() { printf '%serror:%s %s\n' "$C_RED" "$C_OFF" "$*" >&2; }
die() { fail "$*"; exit 1; }

ensure_dirs() { mkdir -p "$RUN_DIR" "$LOG_DIR" "$LIB_DIR" "$PLUGIN_DIR"; }

# ---- processes -------------------------------------------------------------------------------

pid_file() { printf '%s/%s.pid' "$RUN_DIR" "$1"; }

# PID is a running process. A zombie is not: it has exited, but until its parent reaps it
# `kill -0` still succeeds. The launcher's services are reparented to init, which in some
# containers and VMs reaps late (seconds) or never.
pid_running() {
  local state
  kill -0 "$1" 2>/dev/null || return 1
  state="$(ps -o stat= -p "$1" 2>/dev/null)" || return 1
  [[ -n "$state" && "$state" != Z* ]]
}

# pid recorded for a service, if that process is still running and (when the service can tell,
# NAME_owns_pid) is still that service: a pid file can outlive its process.
live_pid() {
  local f pid
  f="$(pid_file "$1")"
  [[ -s "$f" ]] || return 1
  pid="$(<"$f")"
  [[ "$pid" =~ ^[0-9]+$ ]] && pid_running "$pid" || return 1
  if declare -F "${1}_owns_pid" >/dev/null && ! "${1}_owns_pid" "$pid"; then return 1; fi
  printf '%s' "$pid"
}

# start_bg NAME LOGFILE CMD...: run CMD detached in its own session (so its whole process
# group can be signalled), stdout+stderr appended to LOGFILE, pid recorded in the pid file.
start_bg() {
  local name="$1" log="$2"
  shift 2
  printf '\n===== %s: starting %s =====\n' "$(date '+%F %T')" "$name" >>"$log"
  # fds 8/9 carry the launcher's flocks: a long-lived service must not inherit (and hold) them
  setsid "$@" </dev/null >>"$log" 2>&1 8>&- 9>&- &
  printf '%s' "$!" >"$(pid_file "$name")"
}

# stop_pid NAME PID [GRACE_SECONDS]: TERM the process group, wait, then KILL what is left.
stop_pid() {
  local name="$1" pid="$2" grace="${3:-20}" i
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 5; i++)); do
    pid_running "$pid" || pgrp_alive "$pid" || return 0
    sleep 0.2
  done
  warn "$name (pid $pid) did not stop within ${grace}s; killing it"
  kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 25; i++)); do
    pid_running "$pid" || pgrp_alive "$pid" || return 0
    sleep 0.2
  done
  return 1
}

# any running (not zombie) process left in process group PGID?
pgrp_alive() { ps -eo pgid=,stat= 2>/dev/null | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { found = 1 } END { exit !found }'; }

# ---- probes ----------------------------------------------------------------------------------

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# port_owner PORT: short description of whoever listens on 127.0.0.1:PORT (best effort)
port_owner() {
  command -v ss >/dev/null 2>&1 || return 0
  ss -Htlnp "sport = :$1" 2>/dev/null | sed -n 's/.*users:((\(.*\)))/\1/p' | head -1
}

http_code() { curl -s -o /dev/null -m "${2:-5}" -w '%{http_code}' "$1" 2>/dev/null || true; }

# host and port out of a URL such as postgres://u@h:5432/db or redis://h:6379 or h:9092,h2:9092
url_host_port() {
  local rest="${1#*://}"
  rest="${rest##*@}"
  rest="${rest%%/*}"
  rest="${rest%%,*}"
  rest="${rest%%\?*}"
  printf '%s %s' "${rest%:*}" "${rest##*:}"
}

tail_log() {
  local log="$1" n="${2:-30}"
  if [[ -s "$log" ]]; then
    printf '%s----- last %s lines of %s -----%s\n' "$C_DIM" "$n" "$log" "$C_OFF" >&2
    tail -n "$n" "$log" >&2
    printf '%s----- end of %s -----%s\n' "$C_DIM" "$log" "$C_OFF" >&2
  else
    printf '(no log at %s)\n' "$log" >&2
  fi
}

# ---- java ------------------------------------------------------------------------------------

java_major() { # java_major /path/to/java
  "$1" -version 2>&1 | sed -n 's/.* version "\([0-9]*\)[."].*/\1/p' | head -1
}

system_java() {
  local j
  if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then j="$JAVA_HOME/bin/java"; else j="$(command -v java || true)"; fi
  [[ -n "$j" ]] || return 1
  printf '%s' "$j"
}

# sha of files, for "is the cached copy still what the config asks for" stamps
files_sha() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }
