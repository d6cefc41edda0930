#!/bin/sh
# Runs once, when the postgres-data volume is empty (the official image's
# /docker-entrypoint-initdb.d hook): creates the unprivileged `biovault` role and
# its database. The password is read from the same pgpass file the front-ends
# use (host:port:db:user:password, one line), so there is one copy of it, never
# in the environment or in a process's arguments.
set -eu
pgpass=/run/secrets/postgres-biovault-pgpass
password=$(head -n 1 "$pgpass" | cut -d: -f5-)
if [ -z "$password" ]; then
    echo "10-biovault.sh: $pgpass has no password field" >&2
    exit 1
fi
# The password goes to psql on standard input as a variable, so it never shows
# up in `ps`; :'password' quotes it as a literal.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
\set password '$(printf '%s' "$password" | sed "s/'/''/g")'
CREATE ROLE biovault LOGIN PASSWORD :'password';
CREATE DATABASE biovault OWNER biovault;
REVOKE ALL ON DATABASE biovault FROM PUBLIC;
SQL
