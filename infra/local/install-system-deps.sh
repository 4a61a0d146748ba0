#!/usr/bin/env bash
# Installs the system packages the local stack needs, only those that are missing, with apt-get.
# Quiet when nothing is missing. Not root, or not Debian/Ubuntu, and something missing: prints
# what to install and exits 1.
#
#   PostgreSQL server   postgresql       (any version with /usr/lib/postgresql/*/bin/postgres)
#   Redis               redis-server
#   Java 17+            openjdk-17-jdk-headless
#   Maven               maven
#   Python venv         python3-venv
#   kcat                kcat (older releases: kafkacat)
#   curl                curl
#   Prometheus          prometheus       (prometheus + promtool: the stack's scraper, rule checks)
#   OpenSSL             openssl          (the stack's throw-away CA and server certificate)
set -uo pipefail

missing=()   # apt package names
why=()       # what each one is for

need() { missing+=("$1"); why+=("$2"); }

has_pg_server() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [[ -x "$d/postgres" && -x "$d/initdb" && -x "$d/pg_isready" ]] && return 0
  done
  return 1
}

java_major() {
  local j
  if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then j="$JAVA_HOME/bin/java"; else j="$(command -v java)" || return 1; fi
  "$j" -version 2>&1 | sed -n 's/.* version "\([0-9]*\)[."].*/\1/p' | head -1
}

python_has_venv() {
  local p
  for p in /usr/bin/python3 "$(command -v python3 || true)"; do
    [[ -n "$p" && -x "$p" ]] && "$p" -c 'import venv, ensurepip' 2>/dev/null && return 0
  done
  return 1
}

has_pg_server || need postgresql "PostgreSQL server (initdb, postgres, pg_isready)"
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  need redis-server "Redis (redis-server, redis-cli)"
fi
jm="$(java_major 2>/dev/null || true)"
if [[ -z "$jm" ]] || ((jm < 17)); then
  need openjdk-17-jdk-headless "Java 17+ (Kafka 4, Kafka Connect)"
fi
command -v mvn >/dev/null || need maven "Maven (fetches Kafka, Debezium, Apicurio from Maven Central)"
python_has_venv || need python3-venv "Python venv (fakesnow)"
command -v kcat >/dev/null || command -v kafkacat >/dev/null || need kcat "kcat (Kafka metadata checks, console use)"
command -v curl >/dev/null || need curl "curl (health checks)"
command -v openssl >/dev/null || need openssl "OpenSSL (the TLS certificates of Kafka, Postgres and Redis on the local stack)"
if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
  need prometheus "Prometheus (scrapes the workers on 19090; promtool checks the alert rules)"
fi

((${#missing[@]} == 0)) && exit 0

is_debian() { [[ -f /etc/debian_version ]] && command -v apt-get >/dev/null; }

if ((EUID != 0)) || ! is_debian; then
  echo "The local stack needs these system packages, which are missing:" >&2
  for i in "${!missing[@]}"; do printf '  %-26s %s\n' "${missing[$i]}" "${why[$i]}" >&2; done
  if is_debian; then
    printf '\nInstall them as root:\n  sudo apt-get update && sudo apt-get install -y %s\n' "${missing[*]}" >&2
  else
    printf '\nInstall the equivalent packages with your system'"'"'s package manager (names above are Debian'"'"'s).\n' >&2
  fi
  exit 1
fi

# kcat is called kafkacat on older Debian/Ubuntu releases
resolve_names() {
  local p
  for p in "${missing[@]}"; do
    if [[ "$p" == kcat ]] && ! apt-cache show kcat >/dev/null 2>&1; then p=kafkacat; fi
    printf '%s\n' "$p"
  done
}

echo "installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || { echo "apt-get update failed" >&2; exit 1; }
mapfile -t pkgs < <(resolve_names)
# --no-install-recommends keeps the postgresql package from pulling a default cluster's extras;
# the launcher runs its own cluster and never uses the system one.
apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null || {
  echo "apt-get install ${pkgs[*]} failed" >&2
  exit 1
}
echo "installed: ${pkgs[*]}"
