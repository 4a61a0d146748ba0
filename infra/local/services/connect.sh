# shellcheck shell=bash
# Kafka Connect, distributed mode (REST on 18083), with the Debezium PostgreSQL connector and
# Apicurio's Avro converter on its plugin.path. Runs from the same jars as Kafka.

CONNECT_PORT="${STACK_CONNECT_PORT:-18083}"
CONNECT_HEAP="${STACK_CONNECT_HEAP:--Xms256m -Xmx512m}"
CONNECT_CONF="$STACK_DIR/connect/connect-distributed.properties"
CONNECT_LOG4J="$STACK_DIR/connect/log4j2.properties"
DEBEZIUM_CONNECTOR_CLASS="io.debezium.connector.postgresql.PostgresConnector"

connect_envvar() { printf 'KAFKA_CONNECT_URL'; }
connect_url() { printf 'http://127.0.0.1:%s' "$CONNECT_PORT"; }
connect_port() { printf '%s' "$CONNECT_PORT"; }
connect_fetch() { fetch_kafka && fetch_debezium && fetch_apicurio_converter && sync_plugin_manifests; }

connect_write_config() {
  local brokers="$1"
  mkdir -p "$STACK_DIR/connect"
  cat >"$CONNECT_CONF" <<EOF
# written by infra/local/services/connect.sh on every start; edit that file, not this one
bootstrap.servers=$brokers
group.id=streamscore-local-connect
listeners=http://127.0.0.1:$CONNECT_PORT
rest.advertised.host.name=127.0.0.1
rest.advertised.port=$CONNECT_PORT
plugin.path=$PLUGIN_DIR
# manifests are written by sync_plugin_manifests (lib/fetch.sh); no slow reflection scan
plugin.discovery=service_load
# JSON with schemas by default; a connector may set its own key/value.converter
key.converter=org.apache.kafka.connect.json.JsonConverter
value.converter=org.apache.kafka.connect.json.JsonConverter
key.converter.schemas.enable=true
value.converter.schemas.enable=true
config.storage.topic=_connect-configs
offset.storage.topic=_connect-offsets
status.storage.topic=_connect-status
config.storage.replication.factor=1
offset.storage.replication.factor=1
status.storage.replication.factor=1
offset.storage.partitions=1
status.storage.partitions=1
offset.flush.interval.ms=1000
scheduled.rebalance.max.delay.ms=0
EOF
  write_log4j2 "$CONNECT_LOG4J" org.reflections org.apache.kafka.clients org.apache.kafka.common.config \
    org.apache.kafka.connect.runtime.isolation
}

connect_start() {
  local java brokers="${KAFKA_BROKERS_EFFECTIVE:-$(kafka_url)}" log="$LOG_DIR/connect.log"
  java="$(kafka_java)" || return 1
  connect_write_config "$brokers"
  # shellcheck disable=SC2086 # CONNECT_HEAP holds several options
  start_bg connect "$log" "$java" $CONNECT_HEAP -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true -Dlog4j2.configurationFile="$CONNECT_LOG4J" -Dkafka.logs.dir="$LOG_DIR" \
    -cp "$LIB_DIR/kafka/*" org.apache.kafka.connect.cli.ConnectDistributed "$CONNECT_CONF"
}

# healthy = the REST API lists the Debezium PostgresConnector plugin
connect_health() {
  local url="${1:-$(connect_url)}"
  curl -sf -m 5 "$url/connector-plugins" 2>/dev/null | grep -q "$DEBEZIUM_CONNECTOR_CLASS"
}
