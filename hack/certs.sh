#!/usr/bin/env bash
# Create, once, the throwaway PKI of the local environment: a CA, a serving certificate for 127.0.0.1/localhost
# (used by kube-apiserver and PostgreSQL), the ServiceAccount signing key pair and the static admin token.
source "$(dirname "$0")/lib.sh"
pki="$DBOPS_RUN_DIR/pki"
[[ -f "$pki/serving.crt" && -f "$pki/sa.key" && -f "$pki/admin.token" ]] && exit 0
mkdir -p "$pki"; cd "$pki"
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 30 -subj "/CN=dbops-dev-ca" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout serving.key -out serving.csr -subj "/CN=127.0.0.1" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n' > serving.ext
openssl x509 -req -in serving.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out serving.crt -days 30 -extfile serving.ext 2>/dev/null
openssl genrsa -out sa.key 2048 2>/dev/null
openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > admin.token
printf '%s,admin,admin,system:masters\n' "$(cat admin.token)" > tokens.csv
chmod 600 ca.key serving.key sa.key admin.token tokens.csv
log "PKI created in $pki"
