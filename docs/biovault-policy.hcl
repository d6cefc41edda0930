# biovault service policy - least privilege (HashiCorp Vault / OpenBao ACL).
#
# For a service using the Transit KEK "biovault-kek" on the mount "transit"
# (change both names together with --kek-name / --transit-mount). The operator
# creates the mount and the KEK beforehand (see docs/operations.md), so the
# service needs no sys/ access at all. Key material never leaves Vault: nothing
# here can export, back up, delete or re-flag the KEK.
#
#   bao policy write biovault docs/biovault-policy.hcl
#   bao write auth/approle/role/biovault token_policies=biovault ...
#
# tests/integration/test_approle_policy.py runs a real `biovault serve` under
# exactly this file and checks that everything works and the denials hold.

# Start-up checks (type, exportable flag) and `biovault keys status`.
path "transit/keys/biovault-kek" {
  capabilities = ["read"]
}

# A fresh data key (new collection, DEK rotation): Vault returns it with its
# wrapped form; only the wrapped form is ever stored.
path "transit/datakey/plaintext/biovault-kek" {
  capabilities = ["update"]
}

# Unwrap the stored data keys, once, when the service starts.
path "transit/decrypt/biovault-kek" {
  capabilities = ["update"]
}

# --- key rotation (`biovault keys rotate kek`, run inside the service) --------
# To keep rotation a separate duty, move this block into its own policy and
# attach it only for a maintenance window (see "Rotation runbook").

path "transit/keys/biovault-kek/rotate" {
  capabilities = ["update"]
}

# Rewrap stored data keys under the newest KEK version; Vault never reveals them.
path "transit/rewrap/biovault-kek" {
  capabilities = ["update"]
}

# Retire old KEK versions. Only the two minimum versions may be set: the same
# endpoint could otherwise make the key exportable or deletable.
path "transit/keys/biovault-kek/config" {
  capabilities = ["update"]
  allowed_parameters = {
    "min_decryption_version" = []
    "min_encryption_version" = []
  }
}

# Only for `keys rotate kek --trim-after`: deletes old KEK versions for good.
path "transit/keys/biovault-kek/trim" {
  capabilities = ["update"]
}

# --- the service's own token (also part of Vault's "default" policy) ---------
path "auth/token/renew-self" {
  capabilities = ["update"]
}

path "auth/token/lookup-self" {
  capabilities = ["read"]
}

# --- explicit denials: win over any other policy attached by mistake ----------
path "transit/export/*" {
  capabilities = ["deny"]
}

path "transit/backup/*" {
  capabilities = ["deny"]
}

path "transit/restore/*" {
  capabilities = ["deny"]
}

path "transit/keys/biovault-kek/import*" {
  capabilities = ["deny"]
}
