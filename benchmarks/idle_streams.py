"""How many idle streams from one certificate a live `biovault serve` survives.

Run: ``.venv/bin/python -m benchmarks.idle_streams --streams 8,64,1000 [--json P]``.

Starts ``biovault serve`` with mutual TLS (``certs dev``), 8 RPC threads and an
embedded OpenBao on a temporary data directory, enrols two subjects, then for
each count N opens N idle ``ServerReflectionInfo`` streams from the role-less
health-check certificate, and N idle ``Enroll`` streams from the enroller
certificate. While they are open it asks health (health-check certificate) and
Verify (matcher certificate), each with a 5 s deadline, and reports how many
streams were refused, how many held, and both answers with their latency.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from grpc_reflection.v1alpha import reflection_pb2_grpc

from tests.support.service import dev_tls, mtls_service, run_cli
from vault.api.v1 import vault_pb2_grpc
from vault.client import VaultClient
from vault.client.channel import ClientTls, open_channel
from vault.types import CollectionSpec, ProtectionMode

DIM = 32
_CONSENT = {"purpose": "access", "consent_ref": "bench", "legal_basis": "synthetic"}


def _idle(release: threading.Event) -> Iterator[Any]:
    release.wait()
    yield from ()


def _timed(call: Any) -> tuple[str, float]:
    started = time.perf_counter()
    try:
        answer = str(call())
    except Exception as error:  # reported, not raised: the figure is whether it answers
        answer = f"failed: {error}"
    return answer, (time.perf_counter() - started) * 1e3


def _one_run(target: str, tls: Any, kind: str, count: int, probe: np.ndarray) -> dict[str, Any]:
    who = "healthcheck" if kind == "reflection" else "enroller"
    release = threading.Event()
    channels = [open_channel(target, tls(who)) for _ in range(max(1, count // 50))]
    calls = []
    for i in range(count):
        channel = channels[i % len(channels)]
        if kind == "reflection":
            stub: Any = reflection_pb2_grpc.ServerReflectionStub(channel)
            calls.append(stub.ServerReflectionInfo(_idle(release), timeout=300))
        else:
            stub = vault_pb2_grpc.TemplateVaultStub(channel)
            calls.append(stub.Enroll.future(_idle(release), timeout=300))
    try:
        deadline = time.monotonic() + 30
        previous = -1
        while time.monotonic() < deadline:  # until the refusals stop coming
            done = sum(c.done() for c in calls)
            if done == previous:
                break
            previous = done
            time.sleep(0.5)
        with VaultClient(target, timeout=5, tls=tls("healthcheck")) as health_client:
            health, health_ms = _timed(lambda: health_client.health_check(timeout=5))
        with VaultClient(target, timeout=5, tls=tls("matcher")) as matcher:
            verify, verify_ms = _timed(
                lambda: matcher.verify("faces", "a", probe, purpose="access").match
            )
        refused = sum(c.done() for c in calls)
    finally:
        release.set()
        for call in calls:
            call.cancel()
        for channel in channels:
            channel.close()
    return {
        "kind": kind,
        "certificate": who,
        "streams": count,
        "refused": refused,
        "held": count - refused,
        "health": health,
        "health_ms": round(health_ms, 1),
        "verify_match": verify,
        "verify_ms": round(verify_ms, 1),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the measurement; exit 1 if health or Verify failed in any run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", default="8,64,1000", help="comma-separated stream counts")
    parser.add_argument("--json", help="write the results here (- = stdout)")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.streams.split(",")]
    root = Path(tempfile.mkdtemp(prefix="biovault-idle-"))
    pki = root / "pki"
    made = run_cli("certs", "dev", "--out", str(pki))
    if made.returncode != 0:
        print(made.stderr, file=sys.stderr)
        return 1

    def tls(who: str) -> ClientTls:
        return dev_tls(pki, who)

    service = mtls_service(root, pki, vault_addr=None, token=None, workers=8).start(timeout=180)
    results = []
    try:
        rng = np.random.default_rng(1)
        gallery = rng.standard_normal((2, DIM)).astype(np.float32)
        gallery /= np.linalg.norm(gallery, axis=1, keepdims=True)
        with VaultClient(service.target, timeout=60, tls=tls("admin")) as admin:
            admin.create_collection(
                CollectionSpec("faces", ProtectionMode.CKKS, DIM, purposes=("access",))
            )
            admin.enroll("faces", ["a", "b"], gallery, **_CONSENT)
        for kind in ("reflection", "enroll"):
            for count in counts:
                result = _one_run(service.target, tls, kind, count, gallery[:1])
                results.append(result)
                print(json.dumps(result), file=sys.stderr, flush=True)
                time.sleep(1)
    finally:
        service.stop()
    if args.json:
        text = json.dumps({"workers": 8, "runs": results}, indent=2)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n")
    ok = all(r["health"] == "SERVING" and r["verify_match"] == "True" for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
