# OpenBao server for the biovault cluster (deploy/compose.yaml): a real server,
# not `-dev`. It starts sealed; its key officers initialise it once and unseal it
# at every start (deploy/README.md), so no unseal key is ever on this host's disk.

ui = false

# Integrated (raft) storage on the openbao-data volume, mounted at the image's /data
# (created 0700 for uid 10001, so a fresh volume starts with that owner). mlock is off because raft
# memory-maps its database, which mlock would pin whole (OpenBao's guidance for
# integrated storage); turn swap off on the host instead, so key material never
# reaches a swap device.
disable_mlock = true

storage "raft" {
  path    = "/data"
  node_id = "openbao-1"
}

# TLS only: unwrapped data keys travel in OpenBao's answers, and `biovault serve`
# refuses a plain http:// key service off loopback. The certificate names
# `openbao` (how the front-ends and shards reach it) and 127.0.0.1 (the health check).
listener "tcp" {
  address         = "0.0.0.0:8200"
  cluster_address = "0.0.0.0:8201"
  tls_cert_file   = "/run/secrets/openbao-server-cert"
  tls_key_file    = "/run/secrets/openbao-server-key"
  tls_min_version = "tls12"
}

api_addr     = "https://openbao:8200"
cluster_addr = "https://openbao:8201"

# Every request, including each use of the AppRole credential, is recorded (values
# HMAC'd). OpenBao 2.x takes audit devices from its configuration only; the API
# refuses `bao audit enable`. Ship this file off the host (or add a `socket` device
# to your log collector): whoever controls the host could otherwise rewrite it.
audit "file" "file" {
  description = "biovault cluster key-service audit log"
  options {
    file_path = "/data/audit.log"
  }
}

# Production: replace manual unsealing with an auto-unseal seal backed by a KMS or
# an HSM you trust (a `seal "pkcs11"` or cloud KMS stanza), and run three or five
# raft nodes on separate machines.
