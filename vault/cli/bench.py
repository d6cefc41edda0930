"""``biovault bench``: the encrypted engine against plaintext and TenSEAL baselines."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from vault.cli.common import (
    CommandError,
    Commands,
    add_json_flag,
    add_store_flags,
    positive_int,
    write_json,
)
from vault.cli.progress import Progress
from vault.types import ProtectionMode

if TYPE_CHECKING:
    from vault.bench.runner import BenchConfig

__all__ = ["register"]


def register(commands: Commands) -> None:
    """Add the ``bench`` command."""
    parser = commands.add_parser(
        "bench",
        help="benchmark encrypted 1:N against plaintext and TenSEAL baselines",
        description="One process, one synthetic gallery, everything measured side by side.",
    )
    parser.add_argument("--gallery", type=positive_int, required=True, help="templates enrolled")
    parser.add_argument(
        "--dim", type=positive_int, default=512, help="template dimension (default %(default)s)"
    )
    parser.add_argument(
        "--probes", type=positive_int, default=32, help="probes to time (default %(default)s)"
    )
    parser.add_argument(
        "--batch",
        type=positive_int,
        default=32,
        help="probes per batched call (default %(default)s)",
    )
    parser.add_argument(
        "--top-k", type=positive_int, default=10, help="candidates per probe (default %(default)s)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the synthetic gallery (default %(default)s)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="TenSEAL worker processes (default %(default)s = one per core)",
    )
    parser.add_argument(
        "--naive-sample",
        type=positive_int,
        default=32,
        help="templates timed for the naive TenSEAL baseline (default %(default)s)",
    )
    parser.add_argument(
        "--curve-points",
        type=positive_int,
        default=4,
        help="gallery sizes measured on the way up, halving from --gallery (default %(default)s)",
    )
    parser.add_argument(
        "--mode",
        choices=[m.value for m in ProtectionMode],
        default=ProtectionMode.CKKS.value,
        help="protection of the benchmarked collection; keyed modes use in-memory seeds "
        "(default %(default)s)",
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the serving-RSS child")
    add_store_flags(parser)
    parser.add_argument(
        "--store-only",
        action="store_true",
        help="with --store-url: only compare enrolment and start-up load on SQLite and "
        "PostgreSQL (skip the identify measurements)",
    )
    parser.add_argument(
        "--plot", type=Path, metavar="FILE.png", help="draw ms/probe vs gallery size"
    )
    parser.add_argument(
        "--ray-address",
        metavar="HOST:PORT",
        help="also measure the sharded engine on this Ray cluster, side by side with the "
        "in-process one on the same gallery (needs biovault[cluster]; run it on a cluster "
        "machine: one shard is killed by pid to time its reload)",
    )
    parser.add_argument(
        "--shards",
        type=positive_int,
        default=2,
        metavar="N",
        help="shard actors with --ray-address (default %(default)s)",
    )
    add_json_flag(parser)
    parser.set_defaults(handler=_bench)


def _bench(args: argparse.Namespace) -> int:
    from vault.bench.runner import BenchConfig, run_bench, run_store_comparison
    from vault.config import store_url_from_environment

    store_url = store_url_from_environment(args.store_url)
    if args.store_only and not store_url:
        raise CommandError("--store-only needs --store-url (or BIOVAULT_STORE_URL)")

    config = BenchConfig(
        gallery=args.gallery,
        dim=args.dim,
        probes=args.probes,
        batch=args.batch,
        top_k=args.top_k,
        seed=args.seed,
        workers=args.workers,
        naive_sample=args.naive_sample,
        curve_points=args.curve_points,
        measure_memory=not args.no_memory,
        mode=ProtectionMode(args.mode),
        progress=Progress("bench").note,
    )
    if args.ray_address:
        return _sharded(args, config)
    result: dict[str, object] = {} if args.store_only else run_bench(config)
    if store_url:
        result.update(run_store_comparison(config, store_url, args.store_password_file))
    if args.store_only:
        if args.json:
            write_json(args.json, result)
        if args.json != "-":
            print(
                f"{config.gallery} x {config.dim}: enrol {result['enrol_per_s']:.0f}/s on "
                f"PostgreSQL ({result['enrol_ratio_vs_sqlite']:.2f}x SQLite), load "
                f"{result['load_s']:.2f} s ({result['load_ratio_vs_sqlite']:.2f}x SQLite's speed)"
            )
        return 0
    if args.plot:
        from vault.bench.plot import plot_curve

        plot_curve(result, args.plot)
    if args.json:
        write_json(args.json, result)
    if args.json != "-":
        print(
            f"{result['gallery']} x {result['dim']}: encrypted {result['he_ms_per_probe']:.2f} ms"
            f" per probe ({result['ratio_vs_plaintext']:.1f}x plaintext), batched "
            f"{result['he_batched_ms_per_probe']:.2f} ms, top-1 agreement "
            f"{result['top1_agreement']:.3f}, " + _error_summary(result)
        )
    return 0


def _sharded(args: argparse.Namespace, config: BenchConfig) -> int:
    from vault.bench.sharded import run_sharded_bench
    from vault.service.bootstrap import open_vault_services

    result = run_sharded_bench(
        config,
        ray_address=args.ray_address,
        shards=args.shards,
        open_services=open_vault_services,
    )
    if args.json:
        write_json(args.json, result)
    if args.json != "-":
        overhead = result["overhead_vs_in_process"]
        print(
            f"{result['gallery']} x {result['dim']} over {result['shards']} shards on "
            f"{result['nodes']} node(s): {result['he_ms_per_probe']:.2f} ms per probe "
            f"({overhead['single']:.2f}x in-process), batched "
            f"{result['he_batched_ms_per_probe']:.2f} ms ({overhead['batched']:.2f}x)"
        )
    return 0


def _error_summary(result: dict[str, object]) -> str:
    if "max_abs_score_error" in result:
        return f"max score error {result['max_abs_score_error']:.1e}"
    error = result["max_abs_score_error_vs_unprotected"]
    return f"max score difference from the unprotected scores {error:.1e}"
