"""Rules a deployment compose file must keep, as a checker that lists what it breaks.

Each ``check_*`` function takes the parsed compose document (and where needed the
directory the file lives in) and returns human-readable problems; an empty list means
the rule holds. ``tests/deploy/test_compose.py`` runs them on ``deploy/compose.yaml``
(no problem allowed) and on broken copies of it (the right problem must be found), so
every rule is shown to be able to fail.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "ALL_CHECKS",
    "OFFICIAL_IMAGES",
    "REQUIRED_SERVICES",
    "SECRETS_DIR",
    "check_all",
    "environment_of",
    "frontends",
    "published_ports",
    "ray_services",
]

#: Services the issue names: key service, store, Ray head and worker, two front-ends
#: and the one address in front of them.
REQUIRED_SERVICES = (
    "openbao",
    "postgres",
    "ray-head",
    "ray-worker",
    "frontend-1",
    "frontend-2",
    "balancer",
)
#: Images that may come from a registry instead of the project's Dockerfile: official
#: (library) images, pinned to a full version or a digest.
OFFICIAL_IMAGES = frozenset({"postgres", "nginx"})
#: Where every secret file lives (git ignores it) and where compose mounts them.
SECRETS_DIR = "secrets"
RUN_SECRETS = "/run/secrets/"

_SECRET_WORD = re.compile(r"PASS|TOKEN|SECRET|PRIVATE|CREDENTIAL|(^|_)KEY$|API_?KEY", re.I)
_SECRET_FLAG = re.compile(r"^--[\w-]*(password|passwd|token|secret)[\w-]*$", re.I)
_URL_WITH_PASSWORD = re.compile(r"\w+://[^/@\s:]+:[^/@\s]+@")
_PINNED_TAG = re.compile(r"^\d+\.\d+(\.\d+)*([-.][\w.]+)?$")
_SERVE_TLS_FLAGS = ("--tls-cert", "--tls-key", "--client-ca")
_RAY_TLS_ENV = ("RAY_TLS_SERVER_CERT", "RAY_TLS_SERVER_KEY", "RAY_TLS_CA_CERT")


def services(doc: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The ``services`` mapping (empty if missing)."""
    return dict(doc.get("services") or {})


def environment_of(service: Mapping[str, Any]) -> dict[str, str]:
    """A service's environment as a dict, from either compose form (map or list)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) if "=" in item else (item, "") for item in env)
        return {key: value for key, value in pairs}
    return {str(key): "" if value is None else str(value) for key, value in env.items()}


def _argv(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return value.split()
    return [str(item) for item in value]


def _mounted_secrets(service: Mapping[str, Any]) -> set[str]:
    names = set()
    for item in service.get("secrets") or []:
        if isinstance(item, str):
            names.add(RUN_SECRETS + item)
        else:
            target = item.get("target") or item["source"]
            names.add(target if target.startswith("/") else RUN_SECRETS + target)
    return names


def frontends(doc: Mapping[str, Any]) -> dict[str, list[str]]:
    """Services whose command is ``biovault serve``: name -> its argument list."""
    found = {}
    for name, service in services(doc).items():
        command = _argv(service.get("command"))
        if command[:1] == ["serve"] or command[:2] == ["biovault", "serve"]:
            found[name] = command[command.index("serve") :]
    return found


def ray_services(doc: Mapping[str, Any]) -> list[str]:
    """Services that run a Ray node (``ray start`` in their entrypoint or command)."""
    found = []
    for name, service in services(doc).items():
        words = " ".join(_argv(service.get("entrypoint")) + _argv(service.get("command")))
        if re.search(r"\bray start\b", words):
            found.append(name)
    return found


def published_ports(service: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(host address, container port) of each published port; "" = every address."""
    found = []
    for port in service.get("ports") or []:
        if isinstance(port, Mapping):
            found.append((str(port.get("host_ip") or ""), str(port.get("target"))))
            continue
        text = str(port)
        if text.startswith("["):  # [::1]:50051:50051
            host, rest = text[1:].split("]:", 1)
            found.append((host, rest.rsplit(":", 1)[-1]))
            continue
        parts = text.split(":")
        found.append((parts[0] if len(parts) == 3 else "", parts[-1]))
    return found


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _flag(argv: list[str], name: str) -> str | None:
    for index, word in enumerate(argv):
        if word == name and index + 1 < len(argv):
            return argv[index + 1]
        if word.startswith(name + "="):
            return word.split("=", 1)[1]
    return None


def check_services(doc: Mapping[str, Any], _base: Path) -> list[str]:
    """Every part of the cluster is there."""
    present = services(doc)
    return [f"missing service {name}" for name in REQUIRED_SERVICES if name not in present]


def check_healthchecks(doc: Mapping[str, Any], _base: Path) -> list[str]:
    """Every service has a health check that runs something."""
    problems = []
    for name, service in services(doc).items():
        check = service.get("healthcheck")
        test = _argv((check or {}).get("test"))
        if not check or check.get("disable") or not test or test[0] == "NONE" or len(test) < 2:
            problems.append(f"{name}: no health check")
    return problems


def check_images(doc: Mapping[str, Any], base: Path) -> list[str]:
    """Built from the project's Dockerfile, or a pinned official image."""
    problems = []
    project = (base / "..").resolve()
    for name, service in services(doc).items():
        build = service.get("build")
        if build is not None:
            context = build if isinstance(build, str) else build.get("context", ".")
            dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile")
            if (base / context).resolve() != project or (dockerfile or "Dockerfile") != (
                "Dockerfile"
            ):
                problems.append(f"{name}: not built from the project's Dockerfile")
            continue
        image = str(service.get("image") or "")
        repository, _, digest = image.partition("@")
        repository, _, tag = repository.partition(":")
        official = repository.removeprefix("library/").removeprefix("docker.io/library/")
        if official not in OFFICIAL_IMAGES:
            problems.append(f"{name}: image {image!r} is neither built here nor official")
        elif not (digest.startswith("sha256:") or _PINNED_TAG.match(tag)):
            problems.append(f"{name}: image {image!r} is not pinned to a version")
    return problems


def _tls_services(doc: Mapping[str, Any], base: Path) -> set[str]:
    """Front-ends that serve mutual TLS, and a balancer that only passes TLS to them."""
    tls = {
        name
        for name, argv in frontends(doc).items()
        if all(_flag(argv, flag) for flag in _SERVE_TLS_FLAGS)
    }
    addresses = set()
    for name in tls:
        for network in (services(doc)[name].get("networks") or {}).values():
            if isinstance(network, Mapping) and network.get("ipv4_address"):
                addresses.add(f"{network['ipv4_address']}:50051")
    for name, service in services(doc).items():
        conf = _balancer_conf(doc, service, base)
        if (
            conf is not None
            and _passthrough_upstreams(conf)
            and (set(_passthrough_upstreams(conf)) <= addresses)
        ):
            tls.add(name)
    return tls


def _balancer_conf(doc: Mapping[str, Any], service: Mapping[str, Any], base: Path) -> str | None:
    for item in service.get("configs") or []:
        if isinstance(item, Mapping) and item.get("target") == "/etc/nginx/nginx.conf":
            source = (doc.get("configs") or {}).get(item["source"]) or {}
            path = base / str(source.get("file", ""))
            return path.read_text() if path.is_file() else None
    return None


def _passthrough_upstreams(conf: str) -> list[str]:
    """Upstream servers of an nginx ``stream`` block that does not terminate TLS."""
    stream = conf.split("stream", 1)[1] if re.search(r"^stream\s*\{", conf, re.M) else ""
    stream = stream.split("\nhttp", 1)[0]
    if re.search(r"^\s*(ssl_certificate|ssl_preread|proxy_ssl)\b", stream, re.M):
        return []
    return re.findall(r"^\s*server\s+([\w.:-]+:\d+)", stream, re.M)


def check_published_ports(doc: Mapping[str, Any], base: Path) -> list[str]:
    """No published port binds a non-loopback host address unless it carries TLS."""
    problems = []
    tls = _tls_services(doc, base)
    for name, service in services(doc).items():
        for host, port in published_ports(service):
            if not _is_loopback(host) and name not in tls:
                shown = host or "every address"
                problems.append(f"{name}: port {port} published on {shown} without TLS")
    return problems


def check_networks(doc: Mapping[str, Any], _base: Path) -> list[str]:
    """Only a service that publishes a port sits on a network with a route off the host."""
    problems = []
    networks = doc.get("networks") or {}
    for name, service in services(doc).items():
        attached = service.get("networks") or {"default": None}
        for network in attached:
            internal = bool((networks.get(network) or {}).get("internal"))
            if not internal and not service.get("ports"):
                problems.append(f"{name}: on non-internal network {network}")
    return problems


def check_environment(doc: Mapping[str, Any], _base: Path) -> list[str]:
    """Secret-looking variables point at mounted secret files, never hold a value."""
    problems = []
    for name, service in services(doc).items():
        mounted = _mounted_secrets(service)
        for key, value in environment_of(service).items():
            if _URL_WITH_PASSWORD.search(value):
                problems.append(f"{name}: {key} holds a URL with a password")
            if not _SECRET_WORD.search(key):
                continue
            if key in {"RAY_AUTH_MODE"} and value in {"token", "disabled"}:
                continue
            if value not in mounted:
                problems.append(f"{name}: {key} is a literal, not a mounted secret file")
    return problems


def check_arguments(doc: Mapping[str, Any], _base: Path) -> list[str]:
    """No secret on a command line (they show in `ps` and `docker inspect`)."""
    problems = []
    for name, service in services(doc).items():
        argv = _argv(service.get("entrypoint")) + _argv(service.get("command"))
        for word in argv:
            flag = word.split("=", 1)[0]
            if _SECRET_FLAG.match(flag) and not flag.endswith(("-file", "-path")):
                problems.append(f"{name}: secret passed as argument {flag}")
            if _URL_WITH_PASSWORD.search(word):
                problems.append(f"{name}: argument holds a URL with a password")
    return problems


def check_secrets(doc: Mapping[str, Any], base: Path) -> list[str]:
    """Every secret is a file under deploy/secrets/, and every reference is declared."""
    problems = []
    declared = doc.get("secrets") or {}
    for key, spec in declared.items():
        spec = spec or {}
        source = str(spec.get("file", ""))
        resolved = (base / source).resolve()
        if set(spec) != {"file"}:
            problems.append(f"secret {key}: not (only) from a file")
        elif not resolved.is_relative_to((base / SECRETS_DIR).resolve()):
            problems.append(f"secret {key}: file {source} outside {SECRETS_DIR}/")
    for name, service in services(doc).items():
        for item in service.get("secrets") or []:
            source = item if isinstance(item, str) else item.get("source")
            if source not in declared:
                problems.append(f"{name}: secret {source} is not declared")
    return problems


def check_secret_paths(doc: Mapping[str, Any], _base: Path) -> list[str]:
    """Every /run/secrets/ path a service names (command, health check, environment,
    URLs) is a secret that service mounts: a missing file would only show at start."""
    problems = []
    for name, service in services(doc).items():
        words = (
            _argv(service.get("entrypoint"))
            + _argv(service.get("command"))
            + _argv((service.get("healthcheck") or {}).get("test"))
            + list(environment_of(service).values())
        )
        mounted = _mounted_secrets(service)
        for path in sorted({p for w in words for p in re.findall(r"/run/secrets/[\w.-]+", w)}):
            if path not in mounted:
                problems.append(f"{name}: names {path}, which it does not mount")
    return problems


def check_ray_tls(doc: Mapping[str, Any], _base: Path) -> list[str]:
    """Every Ray node (head, workers, front-ends as drivers) runs Ray with mutual TLS."""
    problems = []
    for name in ray_services(doc):
        service = services(doc)[name]
        env = environment_of(service)
        mounted = _mounted_secrets(service)
        if env.get("RAY_USE_TLS") not in {"1", "true"}:
            problems.append(f"{name}: Ray without RAY_USE_TLS=1")
        for key in _RAY_TLS_ENV:
            if env.get(key) not in mounted:
                problems.append(f"{name}: {key} is not a mounted secret")
        words = _argv(service.get("command")) + _argv(service.get("entrypoint"))
        if any("dashboard-host" in word for word in words) or (
            "--head" in words and "--include-dashboard=false" not in words
        ):
            problems.append(f"{name}: Ray dashboard enabled (it runs jobs unauthenticated)")
    return problems


def check_ray_session_in_memory(doc: Mapping[str, Any], _base: Path) -> list[str]:
    """Ray never writes a probe to disk: its session directory (logs, spilled objects)
    is a tmpfs, and its object store is sized to fit the container's /dev/shm."""
    problems = []
    for name in ray_services(doc):
        service = services(doc)[name]
        tmpfs = [
            v
            for v in service.get("volumes") or []
            if isinstance(v, Mapping) and v.get("type") == "tmpfs" and v.get("target") == "/tmp/ray"
        ]
        if not tmpfs and "/tmp/ray" not in _argv(service.get("tmpfs")):
            problems.append(f"{name}: Ray's session directory /tmp/ray is not a tmpfs")
        words = " ".join(_argv(service.get("entrypoint")) + _argv(service.get("command")))
        if "--object-store-memory=" not in words or not service.get("shm_size"):
            problems.append(f"{name}: Ray's object store not sized to /dev/shm")
    return problems


def check_frontends(doc: Mapping[str, Any], _base: Path) -> list[str]:
    """Front-ends serve mutual TLS from secret files and use a TLS key service."""
    problems = []
    found = frontends(doc)
    if len(found) < 2:
        problems.append(f"{len(found)} front-end(s), two are needed")
    for name, argv in found.items():
        mounted = _mounted_secrets(services(doc)[name])
        for flag in (*_SERVE_TLS_FLAGS, "--vault-ca-file", "--vault-secret-id-file"):
            if _flag(argv, flag) not in mounted:
                problems.append(f"{name}: {flag} is not a mounted secret file")
        if not str(_flag(argv, "--vault-addr") or "").startswith("https://"):
            problems.append(f"{name}: --vault-addr is not https")
        for flag in ("--store-url", "--ray-address", "--shards"):
            if _flag(argv, flag) is None:
                problems.append(f"{name}: no {flag}")
    return problems


ALL_CHECKS = (
    check_services,
    check_healthchecks,
    check_images,
    check_published_ports,
    check_networks,
    check_environment,
    check_arguments,
    check_secrets,
    check_secret_paths,
    check_ray_tls,
    check_ray_session_in_memory,
    check_frontends,
)


def check_all(doc: Mapping[str, Any], base: Path, checks: Iterable[Any] = ALL_CHECKS) -> list[str]:
    """Every problem every rule finds in ``doc`` (a compose file in directory ``base``)."""
    return [problem for check in checks for problem in check(doc, base)]
