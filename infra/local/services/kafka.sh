# shellcheck shell=bash
# Apache Kafka 4.x, KRaft mode: one JVM that is both broker (19092) and controller (19093), with a
# second client listener on 19094: SASL_SSL, SCRAM-SHA-512, the certificate of lib/certs.sh; its
# user (`streamscore`, password in $STACK_DIR/secrets/kafka-password) is created once Kafka answers.

KAFKA_PORT="${STACK_KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${STACK_KAFKA_CONTROLLER_PORT:-19093}"
# default: two above the plaintext port, so a second stack that moves STACK_KAFKA_PORT moves this too
KAFKA_SASL_PORT="${STACK_KAFKA_SASL_PORT:-$((KAFKA_PORT + 2))}"
KAFKA_HEAP="${STACK_KAFKA_HEAP:--Xms256m -Xmx512m}"
KAFKA_DATA="$STACK_DIR/kafka/data"
KAFKA_CONF="$STACK_DIR/kafka/server.properties"
KAFKA_LOG4J="$STACK_DIR/kafka/log4j2.properties"

kafka_envvar() { printf 'KAFKA_BROKERS'; }
kafka_sasl_url() { printf '127.0.0.1:%s' "$KAFKA_SASL_PORT"; }
kafka_url() { printf '127.0.0.1:%s' "$KAFKA_PORT"; }
kafka_port() { printf '%s' "$KAFKA_PORT"; }
kafka_fetch() { fetch_kafka; }

kafka_java() {
  local j
  j="$(system_java)" || { fail "java not found; run: make deps"; return 1; }
  (($(java_major "$j") >= 17)) || { fail "Kafka 4 needs Java 17+, $j is $(java_major "$j")"; return 1; }
  printf '%s' "$j"
}

# a log4j2 config that writes everything to stdout (which the launcher sends to .stack/logs/)
write_log4j2() { # write_log4j2 FILE [quiet logger names...]
  local file="$1" name
  shift
  {
    printf '%s\n' \
      'status = warn' \
      'appender.out.type = Console' \
      'appender.out.name = STDOUT' \
      'appender.out.layout.type = PatternLayout' \
      'appender.out.layout.pattern = [%d] %p %m (%c)%n' \
      'rootLogger.level = INFO' \
      'rootLogger.appenderRef.out.ref = STDOUT'
    for name in "$@"; do
      printf 'logger.%s.name = %s\nlogger.%s.level = WARN\n' "${name//./_}" "$name" "${name//./_}"
    done
  } >"$file"
}

kafka_write_config() {
  mkdir -p "$KAFKA_DATA"
  cat >"$KAFKA_CONF" <<EOF
# written by infra/local/services/kafka.sh on every start; edit that file, not this one
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT,SASL_SSL://127.0.0.1:$KAFKA_SASL_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,SASL_SSL://127.0.0.1:$KAFKA_SASL_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.ssl.keystore.type=PEM
listener.name.sasl_ssl.ssl.keystore.location=$STACK_SERVER_KEYSTORE
listener.name.sasl_ssl.ssl.client.auth=none
log.dirs=$KAFKA_DATA
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
delete.topic.enable=true
log.retention.hours=168
EOF
  write_log4j2 "$KAFKA_LOG4J" kafka.request.logger kafka.controller state.change.logger org.apache.kafka.controller \
    kafka.log.LogCleaner org.apache.kafka.storage.internals.log
}

kafka_start() {
  local java cp cluster_id log="$LOG_DIR/kafka.log"
  java="$(kafka_java)" || return 1
  cp="$LIB_DIR/kafka/*"
  kafka_write_config
  kafka_check_data_version || return 1
  if [[ ! -f "$KAFKA_DATA/meta.properties" ]]; then
    local format_log="$LOG_DIR/kafka-format.log"
    cluster_id="$("$java" -cp "$cp" -Dlog4j2.configurationFile="$KAFKA_LOG4J" kafka.tools.StorageTool random-uuid 2>"$format_log" | tail -1)"
    [[ -n "$cluster_id" ]] || { fail "kafka: could not make a cluster id"; tail_log "$format_log"; return 1; }
    "$java" -cp "$cp" -Dlog4j2.configurationFile="$KAFKA_LOG4J" kafka.tools.StorageTool format \
      -t "$cluster_id" -c "$KAFKA_CONF" >>"$format_log" 2>&1 ||
      { fail "kafka: formatting $KAFKA_DATA failed"; tail_log "$format_log"; return 1; }
  fi
  # shellcheck disable=SC2086 # KAFKA_HEAP holds several options
  start_bg kafka "$log" "$java" $KAFKA_HEAP -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true -Dlog4j2.configurationFile="$KAFKA_LOG4J" -Dkafka.logs.dir="$LOG_DIR" \
    -cp "$cp" kafka.Kafka "$KAFKA_CONF"
}

# version of the Kafka jars in .stack/lib/kafka, e.g. 4.3.1
kafka_jar_version() {
  local jar
  jar="$(ls "$LIB_DIR"/kafka/kafka_2.13-*.jar 2>/dev/null | head -1)"
  jar="${jar##*/kafka_2.13-}"
  printf '%s' "${jar%.jar}"
}

# Kafka cannot run on a log directory written by a newer Kafka (metadata.version). When the
# jars got older than the data (a version pin went down), start from an empty data directory.
kafka_check_data_version() {
  local have want marker="$KAFKA_DATA/.stack-kafka-version"
  want="$(kafka_jar_version)"
  [[ -n "$want" ]] || { fail "kafka: no kafka_2.13-*.jar in $LIB_DIR/kafka"; return 1; }
  if [[ -f "$KAFKA_DATA/meta.properties" && -f "$marker" ]]; then
    have="$(<"$marker")"
    if [[ "$have" != "$want" && "$(printf '%s\n%s\n' "$have" "$want" | sort -V | tail -1)" == "$have" ]]; then
      warn "kafka: data in ${KAFKA_DATA#"$REPO_ROOT"/} was written by Kafka $have, jars are $want (older); wiping it (topics are lost)"
      rm -rf "$KAFKA_DATA"
      mkdir -p "$KAFKA_DATA"
    fi
  fi
  mkdir -p "$KAFKA_DATA" && printf '%s' "$want" >"$marker"
}

kcat_bin() { command -v kcat || command -v kafkacat; }

# healthy = a metadata request for the cluster is answered
kafka_health() {
  local brokers="${1:-$(kafka_url)}" k
  local host port
  read -r host port <<<"$(url_host_port "$brokers")"
  port_open "$host" "$port" || return 1
  if k="$(kcat_bin)"; then
    timeout 10 "$k" -L -b "$brokers" -m 5 >/dev/null 2>&1
  else
    local java
    java="$(kafka_java 2>/dev/null)" || return 1
    timeout 30 "$java" -Xmx128m -cp "$LIB_DIR/kafka/*" -Dlog4j2.configurationFile="$KAFKA_LOG4J" \
      org.apache.kafka.tools.TopicCommand --bootstrap-server "$brokers" --list >/dev/null 2>&1
  fi
}

# once it answers: the SCRAM user of the SASL_SSL listener, in the cluster's metadata (kept in its data
# directory; set again when the password file changed).
# Not checked with kcat here: Debian's kcat (librdkafka 2.0.2) fails SCRAM-SHA-512 against Kafka 4.3
# with the right password ("invalid credentials") where kafkajs and Kafka's own clients log in;
# test/integration/security/kafka.test.ts checks the listener.
kafka_after_healthy() {
  local java log="$LOG_DIR/kafka-scram.log" marker="$KAFKA_DATA/.stack-scram-user" want
  # done once per data directory and password (a JVM costs seconds on every restart otherwise)
  want="$STACK_KAFKA_SASL_USER $(files_sha "$(secret_file kafka)")"
  [[ -f "$marker" && "$(<"$marker")" == "$want" ]] && return 0
  java="$(kafka_java)" || return 1
  # the password (random hex, local only) is on this JVM's command line for a second
  timeout 60 "$java" -Xmx128m -cp "$LIB_DIR/kafka/*" -Dlog4j2.configurationFile="$KAFKA_LOG4J" \
    kafka.admin.ConfigCommand --bootstrap-server "$(kafka_url)" --alter --entity-type users \
    --entity-name "$STACK_KAFKA_SASL_USER" \
    --add-config "SCRAM-SHA-512=[iterations=8192,password=$(<"$(secret_file kafka)")]" >"$log" 2>&1
  local rc=$?
  ((rc == 0)) || { fail "kafka: could not create the SCRAM user $STACK_KAFKA_SASL_USER"; tail_log "$log"; return 1; }
  printf '%s' "$want" >"$marker"
}

# what it runs from, and its certificate (made again by lib/certs.sh when it expires)
kafka_signature() { files_sha "$LOCAL_DIR/maven/kafka/pom.xml" "$LOCAL_DIR/services/kafka.sh" "$STACK_SERVER_CERT"; }
