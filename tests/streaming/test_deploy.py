"""deploy/ names only commands and settings that exist."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from streaming.cli import build_parser
from streaming.settings import STAGES, Settings, read_yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
FIELDS = set(Settings.model_fields)


def _check_prosocial_args(args: list[str]) -> None:
    ns = build_parser().parse_args(args)  # SystemExit on an unknown command/option
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


def test_docker_compose_stage_commands_and_env_exist() -> None:
    doc = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    stages = {n: s for n, s in doc["services"].items() if "command" in s}
    assert set(stages) == set(STAGES)
    for name, svc in stages.items():
        _check_prosocial_args(svc["command"])
        assert svc["command"][-1] == name
        _check_env(svc["environment"])
    assert {"kafka", "postgres"} <= set(doc["services"])


def test_kubernetes_deployments_run_existing_stages() -> None:
    docs = [d for d in yaml.safe_load_all((DEPLOY / "k8s" / "prosocial.yaml").read_text()) if d]
    deps = [d for d in docs if d["kind"] == "Deployment"]
    assert {d["metadata"]["labels"]["stage"] for d in deps} == set(STAGES)
    for d in deps:
        c = d["spec"]["template"]["spec"]["containers"][0]
        _check_prosocial_args(c["args"])
        assert c["readinessProbe"]["httpGet"]["path"] == "/healthz"
    cm = next(d for d in docs if d["kind"] == "ConfigMap")
    assert set(yaml.safe_load(cm["data"]["config.yaml"])) <= FIELDS
    secret = next(d for d in docs if d["kind"] == "Secret")
    _check_env(secret["stringData"])


@pytest.mark.parametrize("unit", ["prosocial@.service", "prosocial.service"])
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
        build_parser().parse_args(["run", "--stage", "scorerr"])
    with pytest.raises(AssertionError):
        _check_env({"PROSOCIAL_DATABSE_URL": "x"})
