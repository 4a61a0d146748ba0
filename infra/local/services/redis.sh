# shellcheck shell=bash
# Redis (Debian's redis-server), no persistence: BullMQ queues are scratch data here.

REDIS_PORT="${STACK_REDIS_PORT:-16379}"
REDIS_DATA="$STACK_DIR/redis"

redis_envvar() { printf 'REDIS_URL'; }
redis_url() { printf 'redis://127.0.0.1:%s' "$REDIS_PORT"; }
redis_port() { printf '%s' "$REDIS_PORT"; }
redis_fetch() { :; }

redis_start() {
  command -v redis-server >/dev/null || { fail "redis-server not found; run: make deps"; return 1; }
  mkdir -p "$REDIS_DATA"
  start_bg redis "$LOG_DIR/redis.log" redis-server --bind 127.0.0.1 --port "$REDIS_PORT" \
    --dir "$REDIS_DATA" --save '' --appendonly no --daemonize no --protected-mode yes \
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
