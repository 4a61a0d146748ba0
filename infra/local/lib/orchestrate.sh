# shellcheck shell=bash
# up / down / status across the services. Sourced by infra/local/stack after the service files.
#
# Every service file defines, for a service NAME:
#   NAME_envvar    the variable that points clients at it (and, when set, makes it external)
#   NAME_url       its local URL, as written to .stack/env
#   NAME_port      the local port it listens on
#   NAME_fetch     get what it runs (jars, venv); a no-op when cached
#   NAME_start     start it in the background (start_bg records the pid)
#   NAME_health    0 when it answers; takes an optional URL (for external services)
# and optionally NAME_after_healthy (one-time setup once it answers), NAME_stop PID (its own
# way to stop), NAME_is_external, NAME_env_lines (several variables instead of one).

# start order matters only for output; `connect` waits for kafka by itself
SERVICES=(postgres redis kafka fakesnow apicurio connect prometheus)

has_fn() { declare -F "$1" >/dev/null; }

# the URL a service is reached at: the environment's value when set, else the local one
svc_effective_url() {
  local var
  if [[ "$1" == fakesnow ]]; then
    if fakesnow_is_external; then
      printf '%s://%s%s' "${SNOWFLAKE_PROTOCOL:-https}" "${SNOWFLAKE_HOST:-${SNOWFLAKE_ACCOUNT:-?}.snowflakecomputing.com}" "${SNOWFLAKE_PORT:+:$SNOWFLAKE_PORT}"
    else
      fakesnow_url
    fi
    return
  fi
  var="$("$1"_envvar)"
  printf '%s' "${!var:-$("$1"_url)}"
}

svc_is_external() {
  local svc="$1" var
  if has_fn "${svc}_is_external"; then "${svc}_is_external"; return; fi
  var="$("${svc}"_envvar)"
  [[ -n "${!var:-}" && "${!var}" != "$("${svc}"_url)" ]]
}

fakesnow_is_external() {
  [[ -n "${SNOWFLAKE_ACCOUNT:-}" && "$SNOWFLAKE_ACCOUNT" != fakesnow ]] ||
    [[ -n "${SNOWFLAKE_HOST:-}" && "$SNOWFLAKE_HOST" != 127.0.0.1 ]] ||
    [[ -n "${SNOWFLAKE_PORT:-}" && "$SNOWFLAKE_PORT" != "$FAKESNOW_PORT" ]]
}

# One `up`/`down` at a time. Waits up to STACK_LOCK_WAIT seconds, then goes on anyway (the
# lock is advisory; a stale holder must not block the stack for good).
take_stack_lock() {
  exec 9>"$RUN_DIR/stack.lock"
  flock -n 9 && return 0
  note "another stack up/down is running; waiting for it (up to ${STACK_LOCK_WAIT:-300}s)"
  flock -w "${STACK_LOCK_WAIT:-300}" 9 || warn "still locked after ${STACK_LOCK_WAIT:-300}s; going on anyway"
}

# What a running service was started from: the poms/requirements it was fetched with and its
# service script. When that changes (a version bump, a config edit), `up` restarts it.
svc_inputs() {
  local m="$LOCAL_DIR/maven"
  case "$1" in
  kafka) printf '%s\n' "$m/kafka/pom.xml" "$LOCAL_DIR/services/kafka.sh" ;;
  connect) printf '%s\n' "$m/kafka/pom.xml" "$m/debezium/pom.xml" "$m/apicurio-converter/pom.xml" "$LOCAL_DIR/services/connect.sh" "$LOCAL_DIR/services/kafka.sh" ;;
  apicurio) printf '%s\n' "$m/apicurio/pom.xml" "$LOCAL_DIR/services/apicurio.sh" "$FAKESNOW_REQUIREMENTS" ;; # its Java 21 is in the venv
  fakesnow) printf '%s\n' "$FAKESNOW_REQUIREMENTS" "$LOCAL_DIR/fakesnow/serve.py" "$LOCAL_DIR/services/fakesnow.sh" ;;
  *) printf '%s\n' "$LOCAL_DIR/services/$1.sh" ;;
  esac
}
svc_signature() {
  if has_fn "${1}_signature"; then "${1}_signature"; return; fi # what it runs with, when it can say
  mapfile -t _inputs < <(svc_inputs "$1")
  files_sha "${_inputs[@]}"
}
sig_file() { printf '%s/%s.signature' "$RUN_DIR" "$1"; }

# Stop running services whose inputs changed since they started (before anything re-fetches
# the jars they run from). Connect goes first: it runs from Kafka's jars too.
stop_stale_services() {
  local svc pid
  for svc in connect kafka apicurio fakesnow redis postgres prometheus; do
    [[ " $* " == *" $svc "* ]] || continue
    pid="$(live_pid "$svc")" || continue
    [[ -f "$(sig_file "$svc")" && "$(<"$(sig_file "$svc")")" == "$(svc_signature "$svc")" ]] && continue
    note "  $svc: its version or configuration changed since it started; restarting it"
    stop_service "$svc" >/dev/null
  done
}

result_file() { printf '%s/%s.result' "$RUN_DIR" "$1"; }
set_result() { printf '%s\n' "$2" >"$(result_file "$1")"; }

# serialise fetch steps that share a cache (Maven's ~/.m2, the venv) across parallel jobs
with_lock() {
  local name="$1"
  shift
  (
    flock 8
    "$@"
  ) 8>"$RUN_DIR/$name.lock"
}

svc_fetch() {
  case "$1" in
  kafka) with_lock maven fetch_kafka ;;
  connect)
    with_lock maven fetch_kafka && with_lock maven fetch_debezium && with_lock maven fetch_apicurio_converter &&
      with_lock plugins sync_plugin_manifests
    ;;
  apicurio) with_lock maven fetch_apicurio && with_lock venv fetch_venv ;;
  fakesnow) with_lock venv fetch_venv ;;
  *) "$1"_fetch ;;
  esac
}

line() { # line SVC MARK URL TEXT
  printf '  %s %-10s %-52s %s\n' "$2" "$1" "$3" "$4"
}

# run_service SVC: make sure SVC is up and answering; records "ok ..." or "fail ..." in its
# result file. Runs as a background job of `up`.
run_service() {
  local svc="$1" t0=$SECONDS pid url deadline
  url="$(svc_effective_url "$svc")"
  rm -f "$(result_file "$svc")"

  if svc_is_external "$svc"; then
    if [[ "$svc" == fakesnow ]] || "${svc}_health" "$url"; then
      line "$svc" "${C_GREEN}✓${C_OFF}" "$url" "external, not started"
    else
      line "$svc" "${C_YELLOW}!${C_OFF}" "$url" "external, not started (does not answer now)"
    fi
    set_result "$svc" "ok external"
    return 0
  fi

  if pid="$(live_pid "$svc")"; then
    if "${svc}_health"; then
      # its one-time set-up again (idempotent, and cheap once done): a set-up added by a pull (a role,
      # a grant) reaches a service left running because what it runs from did not change
      if has_fn "${svc}_after_healthy" && ! "${svc}_after_healthy"; then
        set_result "$svc" "fail set-up after start failed"
        line "$svc" "${C_RED}✗${C_OFF}" "$url" "set-up failed"
        return 1
      fi
      line "$svc" "${C_GREEN}✓${C_OFF}" "$url" "already running (pid $pid)"
      set_result "$svc" "ok running"
      return 0
    fi
    note "  $svc: pid $pid is running but not answering yet; waiting"
  else
    rm -f "$(pid_file "$svc")"
    if port_open 127.0.0.1 "$("${svc}"_port)"; then
      local owner
      owner="$(port_owner "$("${svc}"_port)")"
      set_result "$svc" "fail port $("${svc}"_port) is already taken by another process${owner:+ ($owner)}; stop it, or set $("${svc}"_envvar) to use it as an external service"
      line "$svc" "${C_RED}✗${C_OFF}" "$url" "port in use"
      return 1
    fi
    if ! svc_fetch "$svc"; then
      set_result "$svc" "fail could not fetch what it runs (see above)"
      line "$svc" "${C_RED}✗${C_OFF}" "$url" "fetch failed"
      return 1
    fi
    if [[ "$svc" == connect ]] && ! wait_for_kafka; then
      set_result "$svc" "fail not started: Kafka is not up"
      line "$svc" "${C_RED}✗${C_OFF}" "$url" "not started (Kafka is not up)"
      return 1
    fi
    svc_signature "$svc" >"$(sig_file "$svc")"
    if ! "${svc}_start"; then
      set_result "$svc" "fail could not start"
      line "$svc" "${C_RED}✗${C_OFF}" "$url" "start failed"
      return 1
    fi
  fi

  deadline=$((SECONDS + STACK_TIMEOUT))
  until "${svc}_health"; do
    if ! live_pid "$svc" >/dev/null; then
      set_result "$svc" "fail the process exited"
      line "$svc" "${C_RED}✗${C_OFF}" "$url" "exited"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      set_result "$svc" "fail no answer within ${STACK_TIMEOUT}s (STACK_TIMEOUT)"
      line "$svc" "${C_RED}✗${C_OFF}" "$url" "timed out"
      return 1
    fi
    sleep 1
  done
  if has_fn "${svc}_after_healthy" && ! "${svc}_after_healthy"; then
    set_result "$svc" "fail set-up after start failed"
    line "$svc" "${C_RED}✗${C_OFF}" "$url" "set-up failed"
    return 1
  fi
  line "$svc" "${C_GREEN}✓${C_OFF}" "$url" "ready in $((SECONDS - t0))s"
  set_result "$svc" "ok started"
}

# Connect needs the brokers: wait for the kafka job's verdict (or an external Kafka).
wait_for_kafka() {
  local r deadline=$((SECONDS + STACK_TIMEOUT + 600))
  if svc_is_external kafka; then return 0; fi
  # `up connect` alone: Kafka is not being started by this run, so it must answer now
  [[ " ${CHOSEN[*]} " == *" kafka "* ]] || { kafka_health; return; }
  while ((SECONDS < deadline)); do
    if [[ -s "$(result_file kafka)" ]]; then
      r="$(<"$(result_file kafka)")"
      [[ "$r" == ok* ]]
      return
    fi
    sleep 1
  done
  return 1
}

write_env_file() {
  local svc var tmp="$ENV_FILE.tmp"
  {
    printf '# written by infra/local/stack up, %s\n' "$(date '+%F %T')"
    printf '# load it with: set -a; . %s; set +a\n' "${ENV_FILE#"$REPO_ROOT"/}"
    for svc in kafka apicurio postgres redis connect; do
      var="$("${svc}"_envvar)"
      printf 'export %s=%q\n' "$var" "$(svc_effective_url "$svc")"
    done
    if svc_is_external fakesnow; then
      for var in SNOWFLAKE_ACCOUNT SNOWFLAKE_USER SNOWFLAKE_PASSWORD SNOWFLAKE_DATABASE SNOWFLAKE_SCHEMA \
        SNOWFLAKE_WAREHOUSE SNOWFLAKE_ROLE SNOWFLAKE_HOST SNOWFLAKE_PORT SNOWFLAKE_PROTOCOL; do
        if [[ -n "${!var:-}" ]]; then printf 'export %s=%q\n' "$var" "${!var}"; fi
      done
    else
      fakesnow_env_lines
    fi
    prometheus_env_lines
    secure_env_lines
  } >"$tmp" || { fail "could not write $tmp"; return 1; }
  mv "$tmp" "$ENV_FILE"
}

# The authenticated, encrypted endpoints of the local Kafka, Postgres and Redis (not of external
# ones), their users' password files and the CA that signed their certificate (lib/certs.sh).
secure_env_lines() {
  local any=0
  if ! svc_is_external kafka; then
    any=1
    printf 'export %s=%q\n' KAFKA_SASL_BROKERS "$(kafka_sasl_url)" KAFKA_SASL_USERNAME "$STACK_KAFKA_SASL_USER" \
      KAFKA_SASL_PASSWORD_FILE "$(secret_file kafka)"
  fi
  if ! svc_is_external postgres; then
    any=1
    printf 'export %s=%q\n' DATABASE_TLS_URL "$(postgres_tls_url)" DATABASE_TLS_PASSWORD_FILE "$(secret_file postgres)"
  fi
  if ! svc_is_external redis; then
    any=1
    printf 'export %s=%q\n' REDIS_TLS_URL "$(redis_tls_url)" REDIS_TLS_PASSWORD_FILE "$(secret_file redis)"
  fi
  if ((any)); then printf 'export %s=%q\n' STACK_CA_FILE "$STACK_CA_FILE"; fi
}

# choose_services [SVC...]: CHOSEN = the services named (each checked), or all of them
CHOSEN=()
choose_services() {
  local svc k known
  CHOSEN=()
  (($#)) || { CHOSEN=("${SERVICES[@]}"); return 0; }
  for svc in "$@"; do
    known=0
    for k in "${SERVICES[@]}"; do [[ "$k" == "$svc" ]] && known=1; done
    ((known)) || { fail "unknown service '$svc' (one of: ${SERVICES[*]})"; return 1; }
    CHOSEN+=("$svc")
  done
}

stack_up() {
  local t0=$SECONDS svc failed=() r chosen=()
  choose_services "$@" || return 2
  chosen=("${CHOSEN[@]}")
  ensure_dirs
  take_stack_lock
  info "starting the local stack (logs: ${LOG_DIR#"$REPO_ROOT"/}/)"

  rm -f "$RUN_DIR"/*.result
  # the CA, server certificate and passwords of the TLS / SASL / ACL listeners (lib/certs.sh),
  # before the signatures are compared: a new certificate restarts the services that serve it
  if [[ " ${chosen[*]} " =~ \ (kafka|postgres|redis)\  ]]; then ensure_stack_secrets || return 1; fi
  stop_stale_services "${chosen[@]}"
  local -A job=()
  for svc in "${chosen[@]}"; do
    run_service "$svc" &
    job[$svc]=$!
  done
  for svc in "${chosen[@]}"; do
    wait "${job[$svc]}"
  done

  for svc in "${chosen[@]}"; do
    r="$(cat "$(result_file "$svc")" 2>/dev/null || printf 'fail no result')"
    [[ "$r" == ok* ]] || failed+=("$svc")
  done
  if ((${#failed[@]})); then
    for svc in "${failed[@]}"; do
      r="$(cat "$(result_file "$svc")" 2>/dev/null || printf 'fail no result')"
      fail "$svc failed: ${r#fail }"
      tail_log "$LOG_DIR/$svc.log" 30
    done
    fail "stack up failed after $((SECONDS - t0))s (${failed[*]}); services that did start keep running: make stack-down stops them"
    return 1
  fi
  write_env_file || return 1
  info "stack up in $((SECONDS - t0))s; URLs in ${ENV_FILE#"$REPO_ROOT"/} (set -a; . ${ENV_FILE#"$REPO_ROOT"/}; set +a)"
}

stop_service() {
  local svc="$1" pid
  pid="$(live_pid "$svc")" || { rm -f "$(pid_file "$svc")"; return 0; }
  if has_fn "${svc}_stop"; then "${svc}_stop" "$pid"; else stop_pid "$svc" "$pid" 30; fi
  local rc=$?
  if ((rc == 0)); then
    rm -f "$(pid_file "$svc")" "$(sig_file "$svc")"
    info "  stopped $svc (pid $pid)"
  else
    fail "$svc (pid $pid) is still running"
  fi
  return $rc
}

stack_down() {
  local svc rc=0 pids=()
  choose_services "$@" || return 2
  [[ -d "$RUN_DIR" ]] || { info "nothing to stop"; return 0; }
  take_stack_lock
  # Connect first, while Kafka is still there for it to leave its group cleanly
  if [[ " ${CHOSEN[*]} " == *" connect "* ]]; then stop_service connect || rc=1; fi
  for svc in kafka apicurio fakesnow redis postgres prometheus; do
    [[ " ${CHOSEN[*]} " == *" $svc "* ]] || continue
    stop_service "$svc" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  rm -f "$RUN_DIR"/*.result
  # a full down also stops the Postgres instances started with STACK_DIR below this one (the
  # bench's, test/bench/postgres.ts; a test's under scratch/ when the test was interrupted)
  if (($# == 0)); then
    local d
    for d in "$STACK_DIR"/*/ "$STACK_DIR"/scratch/*/; do
      [[ -s "$d/run/postgres.pid" ]] || continue
      STACK_DIR="${d%/}" "$LOCAL_DIR/stack" down postgres || rc=1
    done
  fi
  ((rc == 0)) && info "stack down"
  return $rc
}

stack_status() {
  local svc url rc=0 state
  # the URLs `up` chose (external ones included)
  if [[ -f "$ENV_FILE" ]]; then
    # shellcheck source=/dev/null
    source "$ENV_FILE"
  fi
  for svc in kafka apicurio postgres redis connect fakesnow prometheus; do
    url="$(svc_effective_url "$svc")"
    if svc_is_external "$svc"; then
      state="external"
    else
      state=""
    fi
    if [[ "$svc" == fakesnow && -n "$state" ]]; then
      line "$svc" "${C_DIM}?${C_OFF}" "$url" "external (not checked)"
    elif "${svc}_health" "$url"; then
      line "$svc" "${C_GREEN}✓${C_OFF}" "$url" "healthy${state:+ ($state)}"
    else
      line "$svc" "${C_RED}✗${C_OFF}" "$url" "down${state:+ ($state)}"
      rc=1
    fi
  done
  return $rc
}
