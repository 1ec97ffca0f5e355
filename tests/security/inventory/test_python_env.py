"""Installed distributions of real Python environments: a virtualenv made by the test with a
wheel installed by pip (no network), the interpreter running the tests, hand-made legacy
layouts, an interpreter read from its prefix's layout without being run, interpreters that
fail or hang, and files that are never run (not named as an interpreter, setuid, writable
by others)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.security.wheels import build_wheel, make_venv, pip_install
from watchkeeper.security.inventory.model import CollectError
from watchkeeper.security.inventory.python_env import (
    collect_python,
    interpreter_site_packages,
    list_site_packages,
)


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv (``python -m venv``) holding only WkTest_Pkg 1.0, installed by pip from
    a local wheel without an index."""
    base = tmp_path_factory.mktemp("pyenv")
    env = make_venv(base / "env")
    pip_install(env, build_wheel(base))
    return env


def test_a_virtualenv_lists_what_pip_installed(venv: Path) -> None:
    got = collect_python(str(venv), timeout=10)
    assert got.ecosystem == "PyPI" and got.location == str(venv) and not got.error
    assert got.packages == (("wktest-pkg", "1.0"),)  # the PEP 503 name


def test_the_environments_interpreter_and_site_packages_give_the_same(venv: Path) -> None:
    (site,) = venv.glob("lib/python*/site-packages")
    for location in (venv / "bin" / "python", site):
        got = collect_python(str(location), timeout=10)
        assert got.packages == (("wktest-pkg", "1.0"),), location
        assert got.location == str(location)


def test_an_interpreter_outside_a_virtualenv_is_asked_for_its_site_packages() -> None:
    python = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    if not python.exists():
        pytest.skip(f"no base interpreter at {python}")
    dirs = interpreter_site_packages(python, timeout=10)
    assert dirs and all(d.name in ("site-packages", "dist-packages") for d in dirs)
    got = collect_python(str(python), timeout=10)
    assert not got.error
    assert all(name == name.lower() and "_" not in name for name, _ in got.packages)


def test_legacy_layouts_and_broken_entries(tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    site.mkdir()
    (site / "Old_Thing.egg-info").mkdir()
    (site / "Old_Thing.egg-info" / "PKG-INFO").write_text("Name: Old_Thing\nVersion: 0.9\n")
    (site / "distutils_pkg-2.0-py3.11.egg-info").write_text(
        "Metadata-Version: 1.0\nName: distutils.pkg\nVersion: 2.0\n"
    )
    (site / "eggy-1.1-py3.11.egg" / "EGG-INFO").mkdir(parents=True)
    (site / "eggy-1.1-py3.11.egg" / "EGG-INFO" / "PKG-INFO").write_text(
        "Name: eggy\nVersion: 1.1\n"
    )
    (site / "nometa-3.2.dist-info").mkdir()  # METADATA lost: the folder's name tells
    (site / "noversion-1.0.dist-info").mkdir()
    (site / "noversion-1.0.dist-info" / "METADATA").write_text("Name: noversion\n\n")
    (site / "README.txt").write_text("not a distribution")
    found, skipped = list_site_packages(site)
    assert sorted(found) == [
        ("distutils-pkg", "2.0"),
        ("eggy", "1.1"),
        ("nometa", "3.2"),
        ("old-thing", "0.9"),
    ]
    assert skipped == 1


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("#!/bin/sh\necho 'boom: bad interpreter' >&2\nexit 3\n", "exited with 3: boom"),
        ("#!/bin/sh\necho 'not json'\n", "did not print its site-packages"),
        ("#!/bin/sh\nexec sleep 30\n", "did not answer within 0.3s"),
    ],
)
def test_an_interpreter_that_fails_or_hangs_is_an_error_naming_it(
    tmp_path: Path, script: str, message: str
) -> None:
    python = tmp_path / "python3"
    python.write_text(script)
    python.chmod(0o755)
    with pytest.raises(CollectError, match=message) as caught:
        collect_python(str(python), timeout=0.3)
    assert str(python) in str(caught.value)


def _script(path: Path, text: str, mode: int = 0o755) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def test_an_interpreter_in_its_own_prefix_is_read_without_running_it(tmp_path: Path) -> None:
    """``<prefix>/bin/python3.12`` with ``<prefix>/lib/python3.12/os.py`` (pyenv, conda, the
    container images): its site-packages are found from the layout; running it would fail."""
    marker = tmp_path / "ran"
    python = _script(tmp_path / "bin" / "python3.12", f"#!/bin/sh\ntouch {marker}\nexit 9\n")
    (tmp_path / "bin" / "python3").symlink_to("python3.12")
    lib = tmp_path / "lib" / "python3.12"
    (lib / "site-packages" / "flask-3.0.2.dist-info").mkdir(parents=True)
    (lib / "site-packages" / "flask-3.0.2.dist-info" / "METADATA").write_text(
        "Name: Flask\nVersion: 3.0.2\n"
    )
    (lib / "os.py").write_text("")
    for location in (python, tmp_path / "bin" / "python3"):
        got = collect_python(str(location), timeout=1)
        assert (got.error, got.packages) == ("", (("flask", "3.0.2"),)), location
    assert not marker.exists()


def test_paths_that_are_no_environment(tmp_path: Path) -> None:
    with pytest.raises(CollectError, match="no such file or directory"):
        collect_python(str(tmp_path / "missing"), timeout=1)
    plain = tmp_path / "notes.txt"
    plain.write_text("x")
    with pytest.raises(CollectError, match="not a Python interpreter"):
        collect_python(str(plain), timeout=1)
    broken = tmp_path / "venv"
    broken.mkdir()
    (broken / "pyvenv.cfg").write_text("home = /usr/bin\n")
    with pytest.raises(CollectError, match="a virtual environment without site-packages"):
        collect_python(str(broken), timeout=1)


@pytest.mark.parametrize(
    ("name", "mode", "message"),
    [
        ("python3-config", 0o755, "not a Python interpreter"),
        ("python3", 0o4755, "is setuid or setgid; not run"),
        ("python3", 0o2755, "is setuid or setgid; not run"),
        ("python3", 0o757, "is writable by group or others; not run"),
        ("python3", 0o644, "is not executable; not run"),
    ],
)
def test_files_that_are_never_run(tmp_path: Path, name: str, mode: int, message: str) -> None:
    marker = tmp_path / "ran"
    python = _script(tmp_path / "bin" / name, f"#!/bin/sh\ntouch {marker}\n", mode)
    with pytest.raises(CollectError, match=message) as caught:
        collect_python(str(python), timeout=1)
    assert str(python) in str(caught.value)
    assert not marker.exists()
    # a link with an interpreter's name to a file without one is not run either
    link = tmp_path / "python3.99"
    link.symlink_to(tmp_path / "bin" / "python3-config")
    _script(tmp_path / "bin" / "python3-config", f"#!/bin/sh\ntouch {marker}\n")
    with pytest.raises(CollectError, match="is not named as a Python interpreter"):
        collect_python(str(link), timeout=1)
    assert not marker.exists()
