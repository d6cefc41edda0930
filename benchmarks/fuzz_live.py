"""Fuzz a live `biovault serve`: random and mutated requests to every RPC of every service.

Run: ``.venv/bin/python benchmarks/fuzz_live.py --requests 100000 [--seed S] [--json P]``.

Starts ``biovault serve`` (embedded OpenBao, or ``VAULT_ADDR``/``VAULT_TOKEN``)
on a temporary data directory and a loopback port, creates a small CKKS
collection with three subjects, then sends requests to every method of
TemplateVault, KeyAdmin, TransformKeyAdmin, AuditLog, Compliance and health:
raw random bytes, well-formed messages with random field values, and such
messages truncated or with flipped bytes. It checks after every request that

* the status is never UNKNOWN, INTERNAL or DATA_LOSS, and the server is alive;
* a request that was refused left ``vault.db`` exactly as it was (a digest of
  every row; the audit log is excluded - refusals are audited by design).

Exit code 0 if nothing was violated. ``tests/integration/test_fuzz_live.py``
runs a short version of this in the default test run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from google.protobuf import descriptor as pb_descriptor
from google.protobuf import message as pb_message

from vault.api.v1 import admin_pb2, compliance_pb2, transform_keys_pb2, vault_pb2
from vault.client import VaultClient
from vault.types import CollectionSpec, ProtectionMode

_EXPORT_WEIGHT = 0.02
FORBIDDEN = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.DATA_LOSS}
DIM = 8
_STRINGS = ["c", "a", "b", "", "missing", "access", "ckks", "\u00e9\u00e8", "x" * 300, "c/../d"]
_FD = pb_descriptor.FieldDescriptor


def methods() -> list[tuple[str, Any, Any, bool, bool]]:
    """(full name, request class, response class, client streaming, server streaming)."""
    found = []
    for module in (vault_pb2, admin_pb2, compliance_pb2, transform_keys_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            for m in service.methods:
                request = _message_class(module, m.input_type)
                found.append(
                    (
                        f"/{service.full_name}/{m.name}",
                        request,
                        m.output_type,
                        m.client_streaming,
                        m.server_streaming,
                    )
                )
    return found


def _message_class(module: Any, descriptor: Any) -> Any:
    return getattr(module, descriptor.name, None) or _by_full_name(descriptor)


def _by_full_name(descriptor: Any) -> Any:
    from google.protobuf import message_factory

    return message_factory.GetMessageClass(descriptor)


def _random_value(field: Any, rng: random.Random, depth: int) -> Any:
    kind = field.type
    if kind == _FD.TYPE_STRING:
        return rng.choice(_STRINGS)
    if kind == _FD.TYPE_BYTES:
        if rng.random() < 0.5:
            return np.asarray([rng.uniform(-2, 2) for _ in range(DIM)], "<f4").tobytes()
        return rng.randbytes(rng.randrange(0, 64))
    if kind == _FD.TYPE_BOOL:
        return rng.random() < 0.5
    if kind in (_FD.TYPE_DOUBLE, _FD.TYPE_FLOAT):
        return rng.choice([0.0, -1.0, 1e308, float("nan"), float("inf"), rng.uniform(-5, 5)])
    if kind == _FD.TYPE_ENUM:
        return rng.choice([v.number for v in field.enum_type.values] + [99])
    if kind in (_FD.TYPE_UINT32, _FD.TYPE_FIXED32):
        return rng.choice([0, 1, 2, DIM, 4096, 2**32 - 1, rng.randrange(2**32)])
    if kind in (_FD.TYPE_UINT64, _FD.TYPE_FIXED64):
        return rng.choice([0, 1, 2**64 - 1, rng.randrange(2**40)])
    if kind in (_FD.TYPE_INT32, _FD.TYPE_SINT32, _FD.TYPE_SFIXED32):
        return rng.choice([0, 1, -1, 2**31 - 1, -(2**31)])
    if kind in (_FD.TYPE_INT64, _FD.TYPE_SINT64, _FD.TYPE_SFIXED64):
        return rng.choice([0, 1, -1, 2**63 - 1, -(2**63)])
    raise TypeError(kind)


def _is_repeated(field: Any) -> bool:
    if hasattr(field, "is_repeated"):  # protobuf >= 5.29 deprecates ``label``
        return bool(field.is_repeated)
    return bool(field.label == _FD.LABEL_REPEATED)


def random_message(cls: Any, rng: random.Random, depth: int = 0) -> pb_message.Message:
    """A message of ``cls`` with a random subset of its fields set to random values."""
    msg = cls()
    for field in cls.DESCRIPTOR.fields:
        if rng.random() < 0.3:
            continue
        repeated = _is_repeated(field)
        count = rng.randrange(0, 4) if repeated else 1
        for _ in range(count):
            if field.type == _FD.TYPE_MESSAGE:
                if depth > 2 or field.message_type.full_name.startswith("google.protobuf"):
                    continue
                sub = random_message(_by_full_name(field.message_type), rng, depth + 1)
                if repeated:
                    getattr(msg, field.name).add().CopyFrom(sub)
                else:
                    getattr(msg, field.name).CopyFrom(sub)
            else:
                value = _random_value(field, rng, depth)
                if repeated:
                    getattr(msg, field.name).append(value)
                else:
                    setattr(msg, field.name, value)
    return msg


def random_payload(cls: Any, rng: random.Random) -> bytes:
    """Random bytes, a random message, or a random message damaged."""
    roll = rng.random()
    if roll < 0.3:
        return rng.randbytes(rng.randrange(0, 200))
    data = random_message(cls, rng).SerializeToString()
    if roll < 0.75 or not data:
        return data
    data = bytearray(data)
    if rng.random() < 0.5:
        return bytes(data[: rng.randrange(0, len(data))])
    for _ in range(rng.randrange(1, 4)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data)


#: Written by a timer, not by a request: a KEK rotation accepted with --trim-after
#: marks its journal "trimmed" when the trim runs, whatever request is in flight.
_ASYNC_META = ("keys.rotation.kek",)


def store_digest(db: Path) -> str:
    """SHA-256 over every row of ``vault.db`` (read-only), but the timer-written journal."""
    digest = hashlib.sha256()
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        for table in ("collections", "subjects", "blocks", "meta"):
            for row in connection.execute(f"SELECT * FROM {table} ORDER BY 1, 2"):
                if table == "meta" and row[0] in _ASYNC_META:
                    continue
                for value in row:
                    digest.update(value if isinstance(value, bytes) else repr(value).encode())
                    digest.update(b"\x00")
    finally:
        connection.close()
    return digest.hexdigest()


def call(
    channel: grpc.Channel,
    method: str,
    streaming: tuple[bool, bool],
    payload: bytes,
    rng: random.Random,
) -> grpc.StatusCode:
    """Send raw bytes to ``method``; the status code that came back."""
    client_streaming, server_streaming = streaming
    try:
        if client_streaming:
            chunks = [payload] + [
                rng.randbytes(rng.randrange(0, 40)) for _ in range(rng.randrange(0, 3))
            ]
            channel.stream_unary(method)(iter(chunks), timeout=30)
        elif server_streaming:
            for _ in channel.unary_stream(method)(payload, timeout=30):
                pass
        else:
            channel.unary_unary(method)(payload, timeout=30)
    except grpc.RpcError as error:
        return error.code()
    return grpc.StatusCode.OK


def fuzz(
    target: str,
    db: Path,
    requests: int,
    seed: int,
    alive: Callable[[], bool],
    progress: Callable[[int, Counter], None] | None = None,
) -> dict[str, Any]:
    """Run the fuzz loop; returns counts and violations."""
    rng = random.Random(seed)
    table = [(m, req, (cs, ss)) for m, req, _, cs, ss in methods()]
    table.append(("/grpc.health.v1.Health/Check", None, (False, False)))
    # AuditLog.Export streams the whole log with a proof per entry, and every
    # refused request is an audited entry: at uniform weight, exports of a log
    # growing by ~1 entry per request dominate a long run (O(n^2) overall).
    weights = [_EXPORT_WEIGHT if m.endswith("/Export") else 1.0 for m, _, _ in table]
    codes: Counter[str] = Counter()
    by_method: Counter[str] = Counter()
    violations: list[str] = []
    before = store_digest(db)
    started = time.perf_counter()
    with grpc.insecure_channel(target) as channel:
        for i in range(requests):
            method, request_cls, streaming = rng.choices(table, weights)[0]
            payload = (
                rng.randbytes(rng.randrange(0, 50))
                if request_cls is None
                else random_payload(request_cls, rng)
            )
            code = call(channel, method, streaming, payload, rng)
            codes[code.name] += 1
            by_method[
                method.rsplit("/", 2)[-2].split(".")[-1] + "." + method.rsplit("/", 1)[-1]
            ] += 1
            if code in FORBIDDEN:
                violations.append(f"request {i}: {method} answered {code.name}")
                print(violations[-1], file=sys.stderr)
            after = store_digest(db)
            if code is not grpc.StatusCode.OK and after != before:
                violations.append(
                    f"request {i}: {method} was refused ({code.name}) but changed vault.db"
                )
                print(violations[-1], file=sys.stderr)
            before = after
            if not alive():
                violations.append(f"request {i}: the server died")
                break
            if progress is not None and (i + 1) % 5000 == 0:
                progress(i + 1, codes)
    return {
        "requests": sum(codes.values()),
        "seconds": round(time.perf_counter() - started, 1),
        "codes": dict(codes.most_common()),
        "methods": len(by_method),
        "violations": violations[:50],
        "violation_count": len(violations),
    }


def seed_vault(target: str) -> None:
    """A small CKKS collection with subjects a, b and c."""
    rows = np.random.default_rng(0).standard_normal((3, DIM)).astype(np.float32)
    with VaultClient(target, timeout=60) as client:
        client.create_collection(
            CollectionSpec(
                "c", ProtectionMode.CKKS, DIM, allow_identification=True, purposes=("access",)
            )
        )
        client.enroll(
            "c", ["a", "b", "c"], rows, purpose="access", consent_ref="r", legal_basis="consent"
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_serve(
    data_dir: Path, log: Path, extra: tuple[str, ...] = ("--rate-limit", "0")
) -> tuple[subprocess.Popen[bytes], str]:
    """Start `biovault serve` on a free loopback port; return it once it is SERVING."""
    target = f"127.0.0.1:{_free_port()}"
    handle = log.open("ab")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vault",
            "serve",
            "--data-dir",
            str(data_dir),
            "--listen",
            target,
            "--retention-interval",
            "0",
            *extra,
        ],
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 180
    with VaultClient(target, timeout=5) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"serve exited:\n{log.read_text()[-2000:]}")
            try:
                if client.health_check(timeout=1) == "SERVING":
                    return process, target
            except Exception:
                pass
            time.sleep(0.3)
    process.kill()
    raise SystemExit("serve did not become healthy")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="biovault-fuzz-") as tmp:
        data_dir = Path(tmp) / "data"
        process, target = start_serve(data_dir, Path(tmp) / "serve.log")
        try:
            seed_vault(target)
            result = fuzz(
                target,
                data_dir / "vault.db",
                args.requests,
                args.seed,
                alive=lambda: process.poll() is None,
                progress=lambda n, c: print(
                    f"{n} requests: {dict(c.most_common())}", file=sys.stderr
                ),
            )
        finally:
            process.send_signal(signal.SIGTERM)
            result_code = process.wait(timeout=60)
        result["serve_exit_code"] = result_code
        log_text = (Path(tmp) / "serve.log").read_text(errors="replace")
        result["serve_log_errors"] = sum(1 for line in log_text.splitlines() if " ERROR " in line)
    text = json.dumps(result, indent=2)
    if args.json:
        Path(args.json).write_text(text + "\n")
    print(text)
    return 0 if result["violation_count"] == 0 and result_code == 0 else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
