#!/bin/sh
# Runs once, when the postgres-data volume is empty (the official image's
# /docker-entrypoint-initdb.d hook, as the postgres user): creates the
# unprivileged `biovault` role and its database. The password comes from a secret
# file and reaches psql on standard input, so it is never in the environment or
# in a process's arguments (`ps`).
set -eu
password_file=${BIOVAULT_DB_PASSWORD_FILE:-/run/secrets/postgres-biovault-password}
password=$(head -n 1 "$password_file")
if [ -z "$password" ]; then
    echo "10-biovault.sh: $password_file is empty" >&2
    exit 1
fi
# psql's \set takes a single-quoted value in which '' is one quote and a backslash
# escapes the next character (so both are doubled); :'password' then quotes it as
# an SQL literal.
quoted=$(printf '%s' "$password" | sed -e 's/\\/\\\\/g' -e "s/'/''/g")
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
\set password '$quoted'
CREATE ROLE biovault LOGIN PASSWORD :'password';
CREATE DATABASE biovault OWNER biovault;
REVOKE ALL ON DATABASE biovault FROM PUBLIC;
SQL
