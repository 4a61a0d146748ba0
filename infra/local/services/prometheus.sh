# shellcheck shell=bash
# Prometheus (Debian's package), scraping every streamscore worker it is told about through
# file-based service discovery: `streamscore run` writes one target file per process into
# $PROMETHEUS_SD_DIR (exported as STREAMSCORE_PROM_SD_DIR in .stack/env) and removes it on exit.
# Alert rules come from infra/prometheus/*.rules.yml. Lean: one core, a soft memory limit of
# 256 MiB and 6 h of retention.

PROMETHEUS_PORT="${STACK_PROMETHEUS_PORT:-19090}"
PROMETHEUS_DIR="$STACK_DIR/prometheus"
PROMETHEUS_SD_DIR="$PROMETHEUS_DIR/targets"
PROMETHEUS_RULES_DIR="$REPO_ROOT/infra/prometheus"

prometheus_envvar() { printf 'PROMETHEUS_URL'; }
prometheus_url() { printf 'http://127.0.0.1:%s' "$PROMETHEUS_PORT"; }
prometheus_port() { printf '%s' "$PROMETHEUS_PORT"; }
prometheus_fetch() { :; }

# Restarted by `up` when this file or a rule file changes (its configuration is written at start).
prometheus_signature() {
  files_sha "$LOCAL_DIR/services/prometheus.sh" "$PROMETHEUS_RULES_DIR"/*.rules.yml
}

prometheus_config() {
  cat <<EOF
# written by infra/local/stack up (infra/local/services/prometheus.sh); edits are overwritten
global:
  scrape_interval: 5s
  scrape_timeout: 4s
  evaluation_interval: 5s
rule_files:
  - $PROMETHEUS_RULES_DIR/*.rules.yml
scrape_configs:
  - job_name: streamscore
    file_sd_configs:
      - files: ['$PROMETHEUS_SD_DIR/*.json']
        refresh_interval: 30s
EOF
}

prometheus_start() {
  command -v prometheus >/dev/null || { fail "prometheus not found; run: make deps"; return 1; }
  mkdir -p "$PROMETHEUS_DIR/data" "$PROMETHEUS_SD_DIR"
  prometheus_config >"$PROMETHEUS_DIR/prometheus.yml" || return 1
  start_bg prometheus "$LOG_DIR/prometheus.log" env GOMAXPROCS=1 GOMEMLIMIT=256MiB prometheus \
    --config.file="$PROMETHEUS_DIR/prometheus.yml" \
    --storage.tsdb.path="$PROMETHEUS_DIR/data" \
    --storage.tsdb.retention.time=6h \
    --web.listen-address="127.0.0.1:$PROMETHEUS_PORT" \
    --web.enable-lifecycle
}

# healthy = GET /-/ready answers 200
prometheus_health() {
  [[ "$(http_code "${1:-$(prometheus_url)}/-/ready")" == 200 ]]
}

# The URL, and (when it is ours) the directory workers announce themselves in.
prometheus_env_lines() {
  printf 'export %s=%q\n' PROMETHEUS_URL "$(svc_effective_url prometheus)"
  if ! svc_is_external prometheus; then
    printf 'export %s=%q\n' STREAMSCORE_PROM_SD_DIR "$PROMETHEUS_SD_DIR"
  fi
}
