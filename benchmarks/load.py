"""Load test: N concurrent clients against a live `biovault serve` for T seconds.

Run: ``.venv/bin/python -m benchmarks.load --clients 8 --seconds 60 --gallery 2000 [--json P]``.

Starts ``biovault serve`` (embedded OpenBao, or ``VAULT_ADDR``/``VAULT_TOKEN``) on a
temporary data directory, enrols a synthetic gallery (512-d), then runs
``--clients`` threads, each with its own channel, issuing a mix of verify
(``--mix`` weights, default 70 % verify, 20 % identify of one probe with top-10, 10 %
enroll of one new subject). Reports throughput, p50/p99 latency per operation,
errors (any failed call) and the resident memory of the service (serve plus its
TenSEAL worker processes) sampled every second; exit 1 on any error. The rate
limit is turned off (it is per client, and this measures capacity).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.fuzz_live import start_serve
from vault.client import ClientError, VaultClient
from vault.types import CollectionSpec, ProtectionMode

DIM = 512
_CONSENT = {"purpose": "access", "consent_ref": "load", "legal_basis": "synthetic"}


def rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` and all its descendants (Linux /proc)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += next(
                int(line.split()[1]) * 1024
                for line in status.splitlines()
                if line.startswith("VmRSS")
            )
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except (OSError, StopIteration):
            continue
        todo += [int(c) for c in children]
    return total


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000 if values else float("nan")


def run_load(
    target: str,
    pid: int,
    *,
    clients: int,
    seconds: float,
    gallery: int,
    mix: tuple[float, float, float],
) -> dict[str, Any]:
    """Enrol the gallery, drive the clients, return the summary."""
    rng = np.random.default_rng(3)
    templates = rng.standard_normal((gallery, DIM)).astype(np.float32)
    templates /= np.linalg.norm(templates, axis=1, keepdims=True)
    ids = [f"g{i}" for i in range(gallery)]
    started = time.perf_counter()
    with VaultClient(target, timeout=600) as client:
        client.create_collection(
            CollectionSpec(
                "load", ProtectionMode.CKKS, DIM, allow_identification=True, purposes=("access",)
            )
        )
        client.enroll("load", ids, templates, **_CONSENT)
    enroll_seconds = time.perf_counter() - started

    latencies: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    lock = threading.Lock()
    stop = threading.Event()
    rss: list[tuple[float, int]] = []
    counter = iter(range(10**9))

    def worker(seed: int) -> None:
        local = random.Random(seed)
        noise = np.random.default_rng(seed)  # numpy generators are not thread-safe: one each
        with VaultClient(target, timeout=120) as client:
            while not stop.is_set():
                op = local.choices(("verify", "identify", "enroll"), weights=mix)[0]
                row = local.randrange(gallery)
                noisy = templates[row] + 0.02 * noise.standard_normal(DIM).astype(np.float32)
                begun = time.perf_counter()
                try:
                    if op == "verify":
                        client.verify("load", ids[row], noisy[None, :], purpose="access")
                    elif op == "identify":
                        client.identify("load", noisy[None, :], top_k=10, purpose="access")
                    else:
                        client.enroll(
                            "load", [f"n{next(counter)}-{seed}"], noisy[None, :], **_CONSENT
                        )
                except ClientError as error:
                    with lock:
                        errors[f"{op}:{error.code.name}"] += 1
                    continue
                with lock:
                    latencies[op].append(time.perf_counter() - begun)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    while time.perf_counter() - began < seconds:
        rss.append((round(time.perf_counter() - began, 1), rss_bytes(pid)))
        time.sleep(1.0)
    stop.set()
    for thread in threads:
        thread.join(timeout=120)
    elapsed = time.perf_counter() - began
    total = sum(len(v) for v in latencies.values())
    all_latencies = [x for v in latencies.values() for x in v]
    mib = [r / 2**20 for _, r in rss]
    return {
        "clients": clients,
        "seconds": round(elapsed, 1),
        "gallery": gallery,
        "dim": DIM,
        "initial_enroll_seconds": round(enroll_seconds, 1),
        "requests": total,
        "throughput_per_s": round(total / elapsed, 1),
        "p50_ms": round(_percentile(all_latencies, 50), 1),
        "p99_ms": round(_percentile(all_latencies, 99), 1),
        "by_operation": {
            op: {
                "count": len(v),
                "p50_ms": round(_percentile(v, 50), 1),
                "p99_ms": round(_percentile(v, 99), 1),
            }
            for op, v in sorted(latencies.items())
        },
        "errors": sum(errors.values()),
        "errors_by_kind": dict(errors),
        "rss_mib": {
            "first": round(mib[0], 1) if mib else None,
            "max": round(max(mib), 1) if mib else None,
            "last": round(mib[-1], 1) if mib else None,
            "samples": [(t, round(r / 2**20, 1)) for t, r in rss[:: max(1, len(rss) // 20)]],
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--gallery", type=int, default=2000)
    parser.add_argument("--mix", default="70,20,10", help="verify,identify,enroll weights")
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)
    weights = tuple(float(w) for w in args.mix.split(","))
    if len(weights) != 3:
        parser.error("--mix needs three weights")
    with tempfile.TemporaryDirectory(prefix="biovault-load-") as tmp:
        process, target = start_serve(Path(tmp) / "data", Path(tmp) / "serve.log")
        try:
            result = run_load(
                target,
                process.pid,
                clients=args.clients,
                seconds=args.seconds,
                gallery=args.gallery,
                mix=(weights[0], weights[1], weights[2]),
            )
        finally:
            process.terminate()
            process.wait(timeout=60)
    text = json.dumps(result, indent=2)
    if args.json:
        Path(args.json).write_text(text + "\n")
    print(text)
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
