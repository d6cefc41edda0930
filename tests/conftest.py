"""Shared fixtures: a real OpenBao dev server, real gRPC on loopback, real SQLite."""

pytest_plugins = [
    "tests.support.openbao",
    "tests.support.postgres",
    "tests.support.real_service",
    "tests.support.real_service",
    "tests.support.ray_cluster",
]
