"""The shipped sample configuration stays true to the settings registry."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from alxapi.cli import build_parser
from alxapi.config import SETTINGS, load_config

SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "alx.toml"


def test_sample_config_lists_every_setting_once():
    text = SAMPLE.read_text()
    listed = re.findall(r"^#(\w+) = ", text, flags=re.MULTILINE)
    assert sorted(listed) == sorted(s.name for s in SETTINGS)


def test_sample_config_as_shipped_changes_nothing_and_uncommented_equals_defaults(tmp_path):
    assert (
        load_config(config_path=SAMPLE, env={}, search_paths=[]).describe()
        == load_config(env={}, search_paths=[]).describe()
    )
    uncommented = re.sub(r"^#(\w+ = )", r"\1", SAMPLE.read_text(), flags=re.MULTILINE)
    target = tmp_path / "alx.toml"
    target.write_text(uncommented)
    tomllib.loads(uncommented)  # valid TOML
    cfg = load_config(config_path=target, env={}, search_paths=[])
    defaults = load_config(env={}, search_paths=[])
    skip = {"timezone"}  # the sample shows UTC; the default is the machine's zone
    assert {n: v for n, v, _ in cfg.describe() if n not in skip} == {
        n: v for n, v, _ in defaults.describe() if n not in skip
    }


def unit_directives(name: str) -> dict[str, list[str]]:
    """[Section] Key=value lines of a shipped systemd unit (repeated keys kept in order)."""
    found: dict[str, list[str]] = {}
    section = ""
    for line in (SAMPLE.parent / name).read_text().splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        elif "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            found.setdefault(f"{section}.{key}", []).append(value)
    return found


@pytest.mark.parametrize(
    ("unit", "command"), [("alx-worker.service", "worker"), ("alx-api.service", "serve")]
)
def test_systemd_units_restart_on_failure_but_not_on_configuration_errors(unit, command):
    d = unit_directives(unit)
    assert d["Service.Type"] == ["exec"]
    assert d["Service.Restart"] == ["on-failure"] and int(d["Service.RestartSec"][0]) > 0
    assert d["Service.RestartPreventExitStatus"] == ["78"]  # alx exits 78 on configuration errors
    assert d["Service.User"] == ["alx"] and d["Service.StateDirectory"] == ["alx"]
    assert d["Service.ConfigurationDirectory"] == ["alx"]
    assert "ALX_CONFIG=/etc/alx/alx.toml" in d["Service.Environment"]
    argv = d["Service.ExecStart"][0].split()
    assert argv[0].endswith("/alx") and argv[1] == command
    build_parser().parse_args(argv[1:])  # the unit's command line is one alx accepts
    assert d["Install.WantedBy"] == ["multi-user.target"]


def test_worker_unit_shows_how_the_smtp_password_arrives_as_a_credential():
    text = (SAMPLE.parent / "alx-worker.service").read_text()
    assert "#LoadCredential=smtp_password:/etc/alx/smtp-password" in text
    from alxapi.alerts.delivery import CREDENTIAL_NAME

    assert CREDENTIAL_NAME == "smtp_password"
