"""Fuzzing as part of the suite: every harness replays its seed/regression corpus
(fuzz/corpus/NAME/) under ASan/UBSan, and, when clang is installed, runs libFuzzer
for a few bounded seconds."""
import os
import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
BUILD = ROOT / os.environ.get("SIPWARDEN_BUILD", "build/asan")
HARNESSES = sorted(p.stem[len("fuzz_"):] for p in (ROOT / "fuzz").glob("fuzz_*.c"))
SMOKE_SECONDS = int(os.environ.get("SW_FUZZ_SECONDS", "5"))


@pytest.mark.parametrize("name", HARNESSES)
def test_corpus_replays_clean(name):
    """Every saved input of this harness (seeds and past crashes) runs clean."""
    binary = BUILD / "fuzz" / ("replay_" + name)
    assert binary.exists(), f"{binary} not built (make unit)"
    corpus = ROOT / "fuzz" / "corpus" / name
    assert corpus.is_dir() and any(corpus.iterdir()), f"no seed corpus in {corpus}"
    p = subprocess.run([str(binary), str(corpus)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-4000:]
    assert "replayed" in p.stdout


@pytest.mark.skipif(shutil.which("clang") is None, reason="clang not installed")
@pytest.mark.parametrize("name", HARNESSES)
def test_short_fuzz_run(name, tmp_path):
    """A bounded libFuzzer run of this harness finds no crash, leak or UB."""
    p = subprocess.run([str(ROOT / "fuzz" / "run"), "--seconds", str(SMOKE_SECONDS), name],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "number_of_executed_units" in p.stdout, p.stdout[-2000:]
