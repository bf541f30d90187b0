"""The package metadata builds without deprecation warnings and carries the SPDX license expression."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

BUILD = """
import sys, warnings
warnings.simplefilter("error")  # setuptools deprecates the old license table with a warning
from setuptools import build_meta
print(build_meta.prepare_metadata_for_build_wheel(sys.argv[1]))
"""


def test_metadata_has_the_spdx_license_and_builds_without_warnings(tmp_path):
    built = subprocess.run(
        [sys.executable, "-c", BUILD, str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert built.returncode == 0, built.stderr[-3000:]
    metadata = (tmp_path / built.stdout.strip().splitlines()[-1] / "METADATA").read_text()
    assert "License-Expression: GPL-3.0-or-later" in metadata.splitlines()
    assert "Name: alx-report" in metadata.splitlines()
