"""The Makefile's help for newcomers, and its refusal of a Python older than 3.11."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.check_python import problem

REPO_ROOT = Path(__file__).resolve().parents[2]


def make(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(REPO_ROOT), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_make_alone_lists_every_target_with_a_description() -> None:
    result = make()
    assert result.returncode == 0, result.stderr
    listed = dict(re.findall(r"^  make (\S+) +(.+)$", result.stdout, re.MULTILINE))
    assert {
        "help",
        "run",
        "test",
        "test-fast",
        "lint",
        "format",
        "tiny-model",
        "benchmark",
        "clean",
    } <= set(listed)
    assert "localhost:8888" in listed["run"]
    assert all(description.strip() for description in listed.values())


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ((3, 9, 18, "final", 0), "found 3.9 at /usr/bin/python3"),
        ((3, 10, 0), "found 3.10 at /usr/bin/python3"),
        ((2, 7, 18), "found 2.7 at /usr/bin/python3"),
    ],
)
def test_an_old_python_is_refused_naming_the_fix(version, message) -> None:
    text = problem(version, "/usr/bin/python3")
    assert text is not None
    assert text.startswith(f"Python 3.11 or newer is needed ({message}): set PYTHON=python3.11")


@pytest.mark.parametrize("version", [(3, 11, 0), (3, 12, 4), (3, 14, 0), (4, 0, 0)])
def test_python_311_or_newer_passes(version) -> None:
    assert problem(version, "/usr/bin/python3") is None


def test_make_stops_before_creating_the_venv_with_an_old_python(tmp_path: Path) -> None:
    """`make run PYTHON=<a Python 3.9>` on a fresh clone: one clear line, no venv."""
    fake = tmp_path / "python3.9"
    # Runs a script with sys.version_info set to 3.9; refuses anything else (such as
    # `-m venv`), so a check that wrongly passed could not create a virtualenv.
    fake.write_text(
        "#!/bin/sh\n"
        'case "$1" in -*) echo "fake python3.9 refuses: $*" >&2; exit 97;; esac\n'
        f'FAKE="$0" exec {sys.executable} -c '
        '\'import os, runpy, sys; sys.version_info = (3, 9, 18, "final", 0); '
        'sys.executable = os.environ["FAKE"]; sys.argv = sys.argv[1:]; '
        'runpy.run_path(sys.argv[0], run_name="__main__")\' "$@"\n'
    )
    fake.chmod(0o755)
    venv = tmp_path / "venv"
    result = make("run", f"PYTHON={fake}", f"VENV={venv}")
    assert result.returncode != 0
    assert (
        f"error: Python 3.11 or newer is needed (found 3.9 at {fake}): set PYTHON=python3.11"
        in result.stderr
    )
    assert "refuses" not in result.stderr
    assert not venv.exists()


def test_make_names_a_python_that_does_not_exist(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    result = make("test", "PYTHON=python2.0-no-such", f"VENV={venv}")
    assert result.returncode != 0
    assert "error: python2.0-no-such not found: install Python 3.11 or newer" in result.stderr
    assert not venv.exists()
