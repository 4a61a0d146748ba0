# shellcheck shell=bash
# A throw-away certificate authority for the local stack's TLS listeners, and the passwords of the
# stack's authenticated users. Sourced by infra/local/stack; `up` calls ensure_stack_secrets before
# it starts Kafka, Postgres or Redis. Never use any of this outside the local stack.
#
#   $STACK_DIR/tls/ca.pem        the CA certificate clients trust (STACK_CA_FILE in .stack/env)
#   $STACK_DIR/tls/ca.key        its key (kept to sign a new server certificate)
#   $STACK_DIR/tls/server.pem    the servers' certificate: subjectAltName IP:127.0.0.1 only, so a
#                                client that verifies the host name refuses it under any other
#                                name (`localhost` included)
#   $STACK_DIR/tls/server.key    its key (PKCS#8, unencrypted)
#   $STACK_DIR/tls/server-keystore.pem   key + certificate in one file (Kafka's PEM keystore)
#   $STACK_DIR/secrets/{kafka,postgres,redis}-password   random, made once, kept across restarts
#
# The server certificate is made again when missing, when it expires within a day, or when the CA
# changed; the CA (EC P-256, valid 825 days) when missing or expiring within a day.

STACK_TLS_DIR="$STACK_DIR/tls"
STACK_SECRETS_DIR="$STACK_DIR/secrets"
STACK_CA_FILE="$STACK_TLS_DIR/ca.pem"
STACK_SERVER_CERT="$STACK_TLS_DIR/server.pem"
STACK_SERVER_KEY="$STACK_TLS_DIR/server.key"
STACK_SERVER_KEYSTORE="$STACK_TLS_DIR/server-keystore.pem"

# users the stack creates for its TLS / SASL / ACL listeners
STACK_KAFKA_SASL_USER=streamscore
STACK_PG_TLS_ROLE=streamscore_tls
STACK_REDIS_ACL_USER=streamscore

secret_file() { printf '%s/%s-password' "$STACK_SECRETS_DIR" "$1"; }

cert_valid_for_a_day() { [[ -s "$1" ]] && openssl x509 -in "$1" -noout -checkend 86400 >/dev/null 2>&1; }

# the CA that signed a certificate still is ours
cert_signed_by_ca() { openssl verify -CAfile "$STACK_CA_FILE" "$1" >/dev/null 2>&1; }

make_stack_ca() {
  local log="$LOG_DIR/certs.log"
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 825 \
    -subj "/CN=streamscore local stack CA $(date +%F)" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    -keyout "$STACK_TLS_DIR/ca.key.tmp" -out "$STACK_CA_FILE.tmp" >>"$log" 2>&1 || return 1
  chmod 600 "$STACK_TLS_DIR/ca.key.tmp"
  mv "$STACK_TLS_DIR/ca.key.tmp" "$STACK_TLS_DIR/ca.key"
  mv "$STACK_CA_FILE.tmp" "$STACK_CA_FILE"
}

make_server_cert() {
  local log="$LOG_DIR/certs.log" ext="$STACK_TLS_DIR/server.ext"
  printf '%s\n' 'basicConstraints=critical,CA:FALSE' 'keyUsage=critical,digitalSignature,keyEncipherment' \
    'extendedKeyUsage=serverAuth' 'subjectAltName=IP:127.0.0.1' >"$ext"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj '/CN=127.0.0.1' \
    -keyout "$STACK_SERVER_KEY.tmp" -out "$STACK_TLS_DIR/server.csr" >>"$log" 2>&1 || return 1
  openssl x509 -req -in "$STACK_TLS_DIR/server.csr" -CA "$STACK_CA_FILE" -CAkey "$STACK_TLS_DIR/ca.key" \
    -CAcreateserial -days 365 -extfile "$ext" -out "$STACK_SERVER_CERT.tmp" >>"$log" 2>&1 || return 1
  # the servers read the key as their own user (Postgres as `postgres` when we are root): 644 here,
  # Postgres gets a 600 copy of its own (services/postgres.sh)
  chmod 644 "$STACK_SERVER_KEY.tmp"
  mv "$STACK_SERVER_KEY.tmp" "$STACK_SERVER_KEY"
  mv "$STACK_SERVER_CERT.tmp" "$STACK_SERVER_CERT"
  cat "$STACK_SERVER_KEY" "$STACK_SERVER_CERT" >"$STACK_SERVER_KEYSTORE"
  rm -f "$STACK_TLS_DIR/server.csr" "$ext"
}

ensure_stack_certs() {
  command -v openssl >/dev/null || { fail "openssl not found; run: make deps"; return 1; }
  mkdir -p "$STACK_TLS_DIR" && chmod 755 "$STACK_TLS_DIR"
  if ! cert_valid_for_a_day "$STACK_CA_FILE" || [[ ! -s "$STACK_TLS_DIR/ca.key" ]]; then
    note "tls: making a throw-away CA in ${STACK_TLS_DIR#"$REPO_ROOT"/}"
    make_stack_ca || { fail "tls: openssl could not make the CA (see $LOG_DIR/certs.log)"; return 1; }
  fi
  if ! cert_valid_for_a_day "$STACK_SERVER_CERT" || ! cert_signed_by_ca "$STACK_SERVER_CERT" ||
    [[ ! -s "$STACK_SERVER_KEY" || ! -s "$STACK_SERVER_KEYSTORE" ]]; then
    note "tls: signing a server certificate for 127.0.0.1"
    make_server_cert || { fail "tls: openssl could not make the server certificate (see $LOG_DIR/certs.log)"; return 1; }
  fi
}

ensure_stack_passwords() {
  local name f
  mkdir -p "$STACK_SECRETS_DIR" && chmod 700 "$STACK_SECRETS_DIR"
  for name in kafka postgres redis; do
    f="$(secret_file "$name")"
    [[ -s "$f" ]] && continue
    (umask 077 && openssl rand -hex 24 >"$f.tmp") && mv "$f.tmp" "$f" ||
      { fail "could not write $f"; return 1; }
  done
}

ensure_stack_secrets() { ensure_stack_certs && ensure_stack_passwords; }
