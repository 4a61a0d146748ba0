# shellcheck shell=bash
# fakesnow: a Snowflake emulator (DuckDB underneath) in HTTP server mode, run through
# infra/local/fakesnow/serve.py so the Node.js snowflake-sdk can read its results.
# In memory: tables are gone after `down`. Any account/user/password is accepted, and a
# database/schema named at login is created on the fly.

FAKESNOW_PORT="${STACK_FAKESNOW_PORT:-18085}"

fakesnow_envvar() { printf 'SNOWFLAKE_ACCOUNT'; }
fakesnow_url() { printf 'http://127.0.0.1:%s' "$FAKESNOW_PORT"; }
fakesnow_port() { printf '%s' "$FAKESNOW_PORT"; }
fakesnow_fetch() { fetch_venv; }

fakesnow_start() {
  start_bg fakesnow "$LOG_DIR/fakesnow.log" "$VENV_DIR/bin/python" "$LOCAL_DIR/fakesnow/serve.py" \
    --host 127.0.0.1 --port "$FAKESNOW_PORT"
}

# healthy = GET /healthz answers 200 (served by serve.py next to fakesnow's own routes)
fakesnow_health() {
  [[ "$(http_code "$(fakesnow_url)/healthz")" == 200 ]]
}

# The variables a Snowflake client (node snowflake-sdk) needs to reach fakesnow.
fakesnow_env_lines() {
  printf 'export %s=%q\n' \
    SNOWFLAKE_ACCOUNT fakesnow \
    SNOWFLAKE_USER fake \
    SNOWFLAKE_PASSWORD fakesnow-local \
    SNOWFLAKE_DATABASE STREAMSCORE \
    SNOWFLAKE_SCHEMA PUBLIC \
    SNOWFLAKE_WAREHOUSE COMPUTE_WH \
    SNOWFLAKE_HOST 127.0.0.1 \
    SNOWFLAKE_PORT "$FAKESNOW_PORT" \
    SNOWFLAKE_PROTOCOL http
}
