"""Runs every C unit-test binary (cmocka) built by `make unit` as one pytest case each."""
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
BUILD = ROOT / os.environ.get("SIPWARDEN_BUILD", "build/asan")
BINARIES = sorted(p for p in (BUILD / "tests").glob("test_*") if p.is_file() and os.access(p, os.X_OK))


@pytest.mark.parametrize("binary", BINARIES, ids=[p.name for p in BINARIES])
def test_unit_binary(binary):
    """The cmocka suite in this binary passes (non-zero exit means a failed test or a sanitizer report)."""
    env = dict(os.environ)
    env.setdefault("SW_RFC4475_DIR", str(ROOT.parent / "shared" / "rfc4475" / "messages"))
    proc = subprocess.run([str(binary)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{binary.name} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"


def test_unit_binaries_were_built():
    """`make unit` produced the unit-test binaries (an empty list would silently test nothing)."""
    assert len(BINARIES) >= 5, f"expected unit-test binaries in {BUILD / 'tests'}"
