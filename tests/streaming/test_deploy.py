"""deploy/ names only commands and settings that exist."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from streaming.cli import main as prosocial
from streaming.settings import STAGES, Settings, read_yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
FIELDS = set(Settings.model_fields)


def _check_prosocial_args(args: list[str]) -> None:
    ns = prosocial.build_parser().parse_args(args)  # SystemExit on an unknown command/option
    assert callable(ns.func)
    if getattr(ns, "stage", None) is not None:
        assert ns.stage in STAGES


def _check_env(env: dict[str, Any]) -> None:
    for k in env:
        if k.startswith("PROSOCIAL_"):
            assert k[len("PROSOCIAL_") :].lower() in FIELDS, k


def test_example_config_only_uses_real_settings_and_loads() -> None:
    data = read_yaml(DEPLOY / "config.example.yaml")
    assert set(data) <= FIELDS
    Settings(**data)  # every value has the right type


def _check_reddit_env(env: dict[str, Any]) -> None:
    assert {k for k in env if k.startswith("praw_")} <= {
        "praw_client_id",
        "praw_client_secret",
        "praw_username",
        "praw_password",
    }
    _check_env({k: v for k, v in env.items() if not k.startswith("praw_")})


def test_docker_compose_runs_the_live_process_with_credentials_from_a_file() -> None:
    doc = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    live = doc["services"]["live"]
    _check_prosocial_args(live["command"])
    assert live["command"][0] == "live"
    _check_env(live["environment"])
    assert live["env_file"] == ["reddit.env"] and "healthz" in " ".join(live["healthcheck"]["test"])
    example = dict(
        line.split("=", 1)
        for line in (DEPLOY / "reddit.env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    _check_reddit_env(example)
    assert set(read_yaml(DEPLOY / "live.example.yaml")) <= FIELDS


def test_kubernetes_runs_every_stage_without_a_crash_looping_one() -> None:
    docs = [d for d in yaml.safe_load_all((DEPLOY / "k8s" / "prosocial.yaml").read_text()) if d]
    deps = [d for d in docs if d["kind"] == "Deployment"]
    assert {d["metadata"]["labels"]["stage"] for d in deps} == set(STAGES)
    for d in deps:
        c = d["spec"]["template"]["spec"]["containers"][0]
        _check_prosocial_args(c["args"])
        assert c["readinessProbe"]["httpGet"]["path"] == "/healthz"
        stage = d["metadata"]["labels"]["stage"]
        if stage in ("ingest", "backfill"):  # they need Reddit: the live command, narrowed
            assert c["args"][0] == "live"
            assert {"name": "PROSOCIAL_STAGES", "value": stage} in c["env"]
            assert {"secretRef": {"name": "prosocial-reddit"}} in c["envFrom"]
        else:
            assert c["args"][:1] == ["run"] and c["args"][-1] == stage
    cm = next(d for d in docs if d["kind"] == "ConfigMap")
    assert set(yaml.safe_load(cm["data"]["config.yaml"])) <= FIELDS
    for secret in (d for d in docs if d["kind"] == "Secret"):
        _check_reddit_env(secret["stringData"])


@pytest.mark.parametrize(
    "unit", ["prosocial@.service", "prosocial.service", "prosocial-live@.service"]
)
def test_systemd_units_exec_real_commands(unit: str) -> None:
    cp = configparser.ConfigParser(interpolation=None, strict=False)
    cp.read(DEPLOY / "systemd" / unit)
    argv = shlex.split(cp["Service"]["ExecStart"])
    assert Path(argv[0]).name == "prosocial"
    args = [a.replace("%i", "scorer") for a in argv[1:]]
    _check_prosocial_args(args)
    for part in shlex.split(cp["Service"].get("Environment", "")):
        _check_env({part.split("=", 1)[0]: 1})


def test_a_wrong_setting_or_stage_would_be_caught() -> None:
    with pytest.raises(SystemExit):
        prosocial.build_parser().parse_args(["run", "--stage", "scorerr"])
    with pytest.raises(AssertionError):
        _check_env({"PROSOCIAL_DATABSE_URL": "x"})
