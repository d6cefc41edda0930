"""Measure the engine's design choices side by side (run by hand, on a quiet machine):

    python -m benchmarks.engine_choices --gallery 100000 --json choices.json

* cache blocking: blocks per column chunk of the gallery matrix (1, 2, 4, 8);
* worker processes for TenSEAL encryption: 1 (in-process) vs one per core, for
  one block (score decryption stays in-process: an earlier run of this script
  with worker decryption measured 319 ms in-process vs 459 ms through two
  workers for 800 score ciphertexts, see docs/performance.md);
* decode batch size used when turning decrypted slots back into coefficients.

Scoring cost does not depend on what the ciphertexts encrypt, so the gallery is
filled with uniformly random residues (what real ciphertexts look like anyway).
"""

from __future__ import annotations

import argparse
import math
import os
import time

import numpy as np

import vault.he.keyset as keyset_module
from vault.cli.common import write_json
from vault.he.gallery import EncryptedGallery
from vault.he.keyset import CkksKeySet
from vault.he.params import DEFAULT_PARAMS_ID, get_params


def _timed(call, repeat: int) -> float:
    call()
    started = time.perf_counter()
    for _ in range(repeat):
        call()
    return 1e3 * (time.perf_counter() - started) / repeat


def _gallery(keyset, blocks: int, dim: int, per_chunk: int, rng) -> EncryptedGallery:
    gallery = EncryptedGallery(keyset, dim, blocks_per_chunk=per_chunk)
    degree = keyset.params.poly_modulus_degree
    for block in range(blocks):
        gallery.put_block(block, rng.integers(0, keyset.prime, (dim, 2, degree), dtype=np.uint64))
    return gallery


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gallery", type=int, default=100000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--json", default="-")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    keyset = CkksKeySet.generate(get_params(DEFAULT_PARAMS_ID))
    degree = keyset.params.poly_modulus_degree
    blocks = math.ceil(args.gallery / degree)
    probes = rng.standard_normal((32, args.dim))
    probes /= np.linalg.norm(probes, axis=1, keepdims=True)
    result: dict[str, object] = {"gallery": args.gallery, "dim": args.dim, "blocks": blocks}

    chunking = {}
    for per_chunk in (1, 2, 4, 8):
        gallery = _gallery(keyset, blocks, args.dim, per_chunk, rng)
        chunking[per_chunk] = {
            "single_ms": _timed(lambda g=gallery: g.score(probes[:1]), 5),
            "batched32_ms_per_probe": _timed(lambda g=gallery: g.score(probes), 1) / 32,
        }
        del gallery
    result["blocks_per_chunk"] = chunking

    workers = {}
    values = rng.standard_normal((args.dim, degree)) * 0.05
    residues = rng.integers(0, keyset.prime, (32 * blocks, 2, degree), dtype=np.uint64)
    for count in (1, os.cpu_count() or 1):
        keyset.start_workers(count)
        workers[count] = {
            "encrypt_block_ms": _timed(lambda: keyset.encrypt_coefficients(values, 2.0**20), 2),
        }
        keyset.stop_workers()
    result["workers"] = workers
    result["decrypt_batch32_in_process_ms"] = _timed(
        lambda: keyset.decrypt_coefficients(residues, 2.0**33), 1
    )

    decode = {}
    for batch in (8, 32, 128, len(residues)):
        keyset_module._DECODE_BATCH = batch  # type: ignore[attr-defined]
        decode[batch] = _timed(lambda: keyset.decrypt_coefficients_here(residues[:256], 2.0**33), 2)
    result["decode_batch_ms_per_256"] = decode
    write_json(args.json, result)


if __name__ == "__main__":
    main()
