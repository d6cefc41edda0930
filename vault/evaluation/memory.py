"""How much memory this process can still take, for refusing work that cannot fit.

``/proc/meminfo`` describes the whole machine, and inside a container that is the
host: a container limited to 4 GB on a 64 GB host would read ~60 GB and then be
killed half-way. So the container's own cgroup limit counts too (cgroup v2
``memory.max``, v1 ``memory.limit_in_bytes``), less what the cgroup already uses
apart from reclaimable file cache - the way ``docker stats`` counts it.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["available_bytes"]

#: cgroup v1 reports "no limit" as a huge number near 2^63.
_UNLIMITED = 1 << 62


def available_bytes(root: Path = Path("/")) -> int | None:
    """The smaller of the kernel's MemAvailable and the cgroup's headroom; None if
    neither is known (not Linux)."""
    known = [value for value in (_meminfo(root), _cgroup_headroom(root)) if value is not None]
    return min(known) if known else None


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None


def _field(text: str | None, name: str) -> int | None:
    """The number after ``name`` on its line of a "name value" listing."""
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].rstrip(":") == name and parts[1].isdigit():
            return int(parts[1])
    return None


def _meminfo(root: Path) -> int | None:
    kib = _field(_read(root / "proc/meminfo"), "MemAvailable")
    return None if kib is None else kib * 1024


def _cgroup_headroom(root: Path) -> int | None:
    cgroup = root / "sys/fs/cgroup"
    for limit_file, usage_file, stat_file, cache_field in (
        ("memory.max", "memory.current", "memory.stat", "inactive_file"),  # v2
        (
            "memory/memory.limit_in_bytes",
            "memory/memory.usage_in_bytes",
            "memory/memory.stat",
            "total_inactive_file",
        ),
    ):
        limit, usage = _read(cgroup / limit_file), _read(cgroup / usage_file)
        if limit is None or usage is None or not limit.isdigit() or not usage.isdigit():
            continue  # absent, or v2's "max": no limit at this level
        if int(limit) >= _UNLIMITED:
            continue
        cache = _field(_read(cgroup / stat_file), cache_field) or 0
        return max(0, int(limit) - max(0, int(usage) - cache))
    return None
