"""Collecting a host's inventories: globs, one failure per location, time bounds, and the
real Debian packages and kernel of this machine."""

from __future__ import annotations

import platform
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from watchkeeper.security.inventory.collect import bounded, collect, expand
from watchkeeper.security.inventory.debian import OS_RELEASE, parse_os_release
from watchkeeper.security.inventory.model import CollectError
from watchkeeper.security.inventory.spec import InventorySpec


def apps(tmp_path: Path) -> Path:
    """/srv-like tree: two apps with requirements, one broken lock file, one unreadable."""
    for app, pins in (("shop", "flask==3.0.2\n"), ("blog", "django==4.2.11\nrequests>=2\n")):
        (tmp_path / app).mkdir()
        (tmp_path / app / "requirements.txt").write_text(pins)
    (tmp_path / "shop" / "poetry.lock").write_text("[[package]\nname=")
    (tmp_path / "wiki" / "requirements.txt").mkdir(parents=True)  # a directory: unreadable
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "package-lock.json").write_text(
        '{"lockfileVersion": 3, "packages": {"node_modules/lodash": {"version": "4.17.21"}}}'
    )
    return tmp_path


def test_globs_are_expanded_and_each_location_fails_on_its_own(tmp_path: Path) -> None:
    root = apps(tmp_path)
    spec = InventorySpec(
        requirements=[f"{root}/*/requirements.txt", f"{root}/*/poetry.lock", f"{root}/none/*.txt"],
        npm=[f"{root}/web/package-lock.json", f"{root}/gone/package-lock.json"],
    )
    found = {c.location: c for c in collect(spec, timeout=5)}
    assert sorted(found) == sorted(
        [
            f"{root}/blog/requirements.txt",
            f"{root}/shop/requirements.txt",
            f"{root}/wiki/requirements.txt",
            f"{root}/shop/poetry.lock",
            f"{root}/web/package-lock.json",
            f"{root}/gone/package-lock.json",  # named without a glob: its absence is an error
        ]
    )
    blog = found[f"{root}/blog/requirements.txt"]
    assert blog.packages == (("django", "4.2.11"),) and blog.skipped == 1 and not blog.error
    assert found[f"{root}/shop/requirements.txt"].packages == (("flask", "3.0.2"),)
    assert found[f"{root}/web/package-lock.json"].packages == (("lodash", "4.17.21"),)
    assert "Is a directory" in found[f"{root}/wiki/requirements.txt"].error
    assert "not valid TOML" in found[f"{root}/shop/poetry.lock"].error
    assert "No such file" in found[f"{root}/gone/package-lock.json"].error
    assert all(c.digest == "" for c in found.values() if c.error)


def test_a_location_listed_twice_is_collected_once(tmp_path: Path) -> None:
    root = apps(tmp_path)
    spec = InventorySpec(
        requirements=[f"{root}/shop/requirements.txt", f"{root}/sh*/requirements.txt"]
    )
    assert [c.location for c in collect(spec)] == [f"{root}/shop/requirements.txt"]


def test_expand_leaves_plain_paths_and_expands_the_home(tmp_path: Path) -> None:
    assert expand(str(tmp_path / "x.txt")) == [str(tmp_path / "x.txt")]
    assert expand("~/x")[0] != "~/x"
    assert expand(str(tmp_path / "*.none")) == []


def test_a_slow_location_is_abandoned_after_its_bound() -> None:
    release = threading.Event()
    try:
        with pytest.raises(CollectError, match="nfs-mount: took longer than 0.1s"):
            bounded(release.wait, 0.1, "nfs-mount")
    finally:
        release.set()
    with pytest.raises(ValueError, match="bad"):
        bounded(lambda: int("bad"), 1, "x")
    assert bounded(lambda: 42, 1, "x") == 42


def test_a_python_glob_reads_interpreters_and_runs_nothing_else(tmp_path: Path) -> None:
    venv = tmp_path / "opt" / "app"
    (venv / "lib" / "python3.12" / "site-packages").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    marker = tmp_path / "ran"
    for name in ("python3", "activate", "flask", "python3-config"):
        (venv / "bin").mkdir(exist_ok=True)
        (venv / "bin" / name).write_text(f"#!/bin/sh\ntouch {marker}\n")
        (venv / "bin" / name).chmod(0o755)
    found = collect(InventorySpec(python=[f"{tmp_path}/opt/*/bin/*"]))
    assert [(c.location, c.error) for c in found] == [(f"{venv}/bin/python3", "")]
    assert not marker.exists()


def test_a_hanging_interpreter_costs_only_its_own_location(tmp_path: Path) -> None:
    hang = tmp_path / "python3"
    hang.write_text("#!/bin/sh\nexec sleep 30\n")
    hang.chmod(0o755)
    (tmp_path / "requirements.txt").write_text("flask==3.0.2\n")
    spec = InventorySpec(python=[str(hang)], requirements=[str(tmp_path / "requirements.txt")])
    python, requirements = collect(spec, timeout=0.3)
    assert "did not answer within 0.3s" in python.error
    assert requirements.packages == (("flask", "3.0.2"),)


@pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="no dpkg on this machine")
def test_the_debian_packages_and_kernel_of_this_machine() -> None:
    debian, kernel = collect(InventorySpec(debian=True, kernel=True))
    assert (debian.ecosystem, debian.location, debian.error) == ("Debian", "dpkg", "")
    assert debian.distro == parse_os_release(OS_RELEASE.read_text())
    sources = subprocess.run(
        ["dpkg-query", "-W", "-f", "${source:Package}\n", "dpkg"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert sources in {name for name, _ in debian.packages}
    assert len(debian.packages) > 20
    assert kernel.packages == ((platform.system().lower(), platform.release()),)
    assert kernel.location == "running"
