"""The shipped sample configuration stays true to the settings registry."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from alxapi.config import SETTINGS, load_config

SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "alx.toml"


def test_sample_config_lists_every_setting_once():
    text = SAMPLE.read_text()
    listed = re.findall(r"^#(\w+) = ", text, flags=re.MULTILINE)
    assert sorted(listed) == sorted(s.name for s in SETTINGS)


def test_sample_config_as_shipped_changes_nothing_and_uncommented_equals_defaults(tmp_path):
    assert load_config(config_path=SAMPLE, env={}, search_paths=[]).describe() == \
        load_config(env={}, search_paths=[]).describe()
    uncommented = re.sub(r"^#(\w+ = )", r"\1", SAMPLE.read_text(), flags=re.MULTILINE)
    target = tmp_path / "alx.toml"
    target.write_text(uncommented)
    tomllib.loads(uncommented)  # valid TOML
    cfg = load_config(config_path=target, env={}, search_paths=[])
    defaults = load_config(env={}, search_paths=[])
    skip = {"timezone"}  # the sample shows UTC; the default is the machine's zone
    assert {n: v for n, v, _ in cfg.describe() if n not in skip} == \
        {n: v for n, v, _ in defaults.describe() if n not in skip}
