# shellcheck shell=bash
# Redis (Debian's redis-server), no persistence: BullMQ queues are scratch data here.
# Two ports: 16379 in clear text, and 16380 TLS-only (the certificate of lib/certs.sh; no client
# certificates). Besides the default user (no password, as before) there is an ACL user
# `streamscore` whose password is in $STACK_DIR/secrets/redis-password; both users work on both ports.

REDIS_PORT="${STACK_REDIS_PORT:-16379}"
REDIS_TLS_PORT="${STACK_REDIS_TLS_PORT:-$((REDIS_PORT + 1))}" # moves with STACK_REDIS_PORT
REDIS_DATA="$STACK_DIR/redis"
REDIS_CONF="$REDIS_DATA/redis.conf" # written on every start, mode 600: it holds the ACL password

redis_envvar() { printf 'REDIS_URL'; }
redis_url() { printf 'redis://127.0.0.1:%s' "$REDIS_PORT"; }
redis_tls_url() { printf 'rediss://%s@127.0.0.1:%s' "$STACK_REDIS_ACL_USER" "$REDIS_TLS_PORT"; }
redis_port() { printf '%s' "$REDIS_PORT"; }
redis_fetch() { :; }

redis_start() {
  command -v redis-server >/dev/null || { fail "redis-server not found; run: make deps"; return 1; }
  mkdir -p "$REDIS_DATA"
  (
    umask 077
    printf '%s\n' '# written by infra/local/services/redis.sh on every start' \
      "tls-port $REDIS_TLS_PORT" "tls-cert-file $STACK_SERVER_CERT" "tls-key-file $STACK_SERVER_KEY" \
      "tls-ca-cert-file $STACK_CA_FILE" 'tls-auth-clients no' \
      "user $STACK_REDIS_ACL_USER on >$(<"$(secret_file redis)") ~* &* +@all" >"$REDIS_CONF"
  ) || { fail "redis: could not write $REDIS_CONF"; return 1; }
  # AOF, fsync once a second: BullMQ keeps backfill runs and chunks in Redis only, and a Redis
  # killed without persistence comes back empty (the backfill run gone; README: Reliability)
  start_bg redis "$LOG_DIR/redis.log" redis-server "$REDIS_CONF" --bind 127.0.0.1 --port "$REDIS_PORT" \
    --dir "$REDIS_DATA" --save '' --appendonly yes --appendfsync everysec --daemonize no --protected-mode yes \
    --maxmemory 512mb --maxmemory-policy noeviction
}

# healthy = PING answers PONG
redis_health() {
  local host port
  read -r host port <<<"$(url_host_port "${1:-$(redis_url)}")"
  if command -v redis-cli >/dev/null; then
    [[ "$(timeout 5 redis-cli -h "$host" -p "$port" ping 2>/dev/null)" == PONG ]]
  else
    port_open "$host" "$port"
  fi
}

# restarted when its certificate is made again, too (lib/certs.sh)
redis_signature() { files_sha "$LOCAL_DIR/services/redis.sh" "$STACK_SERVER_CERT"; }

# once it answers: the TLS port, as the ACL user, trusting only the stack CA (REDISCLI_AUTH keeps
# the password off the command line)
redis_after_healthy() {
  command -v redis-cli >/dev/null || return 0
  local i
  for ((i = 0; i < 20; i++)); do
    [[ "$(REDISCLI_AUTH="$(<"$(secret_file redis)")" timeout 5 redis-cli -h 127.0.0.1 -p "$REDIS_TLS_PORT" \
      --tls --cacert "$STACK_CA_FILE" --user "$STACK_REDIS_ACL_USER" ping 2>/dev/null)" == PONG ]] && return 0
    sleep 0.5
  done
  fail "redis: the TLS port $REDIS_TLS_PORT does not answer $STACK_REDIS_ACL_USER"
  return 1
}
