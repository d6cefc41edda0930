"""Available memory: the machine's, or a container's cgroup limit when that is lower."""

from __future__ import annotations

from pathlib import Path

from vault.evaluation.memory import available_bytes

GB = 1_000_000_000


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _meminfo(kib: int) -> str:
    return f"MemTotal:       67108864 kB\nMemFree:  1000 kB\nMemAvailable:   {kib} kB\n"


def test_the_machine_without_a_limit(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"proc/meminfo": _meminfo(8_000_000), "sys/fs/cgroup/memory.max": "max"})
    assert available_bytes(root) == 8_000_000 * 1024


def test_a_cgroup_v2_limit_counts_usage_less_file_cache(tmp_path: Path) -> None:
    """4 GB limit, 3 GB charged of which 2 GB is reclaimable cache: 3 GB left, though
    the host has 60."""
    root = _tree(
        tmp_path,
        {
            "proc/meminfo": _meminfo(60_000_000),
            "sys/fs/cgroup/memory.max": str(4 * GB),
            "sys/fs/cgroup/memory.current": str(3 * GB),
            "sys/fs/cgroup/memory.stat": f"anon 1000\ninactive_file {2 * GB}\nactive_file 5\n",
        },
    )
    assert available_bytes(root) == 3 * GB


def test_a_cgroup_v1_limit_and_v1s_unlimited_marker(tmp_path: Path) -> None:
    v1 = "sys/fs/cgroup/memory/"
    root = _tree(
        tmp_path,
        {
            "proc/meminfo": _meminfo(60_000_000),
            v1 + "memory.limit_in_bytes": str(2 * GB),
            v1 + "memory.usage_in_bytes": str(GB // 2),
            v1 + "memory.stat": "cache 10\ntotal_inactive_file 0\n",
        },
    )
    assert available_bytes(root) == 2 * GB - GB // 2
    (root / v1 / "memory.limit_in_bytes").write_text("9223372036854771712")
    assert available_bytes(root) == 60_000_000 * 1024


def test_nothing_known_means_no_answer(tmp_path: Path) -> None:
    assert available_bytes(tmp_path) is None
    _tree(tmp_path, {"proc/meminfo": "MemTotal: 5 kB\n"})  # an old kernel: no MemAvailable
    assert available_bytes(tmp_path) is None


def test_this_machine_reports_something() -> None:
    """The suite runs on Linux, where the evaluation's memory check must be live."""
    assert (available_bytes() or 0) > 100_000_000
