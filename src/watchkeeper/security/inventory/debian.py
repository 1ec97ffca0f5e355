"""Debian packages, the distribution release and the OS updates available.

**Source packages.** OSV's Debian records (from the Debian security tracker) name the
*source* package and give *source* versions: a fix to OpenSSL is recorded once for source
``openssl``, not for the binaries ``libssl3``, ``openssl`` and ``libssl-dev`` built from it,
and a binary rebuilt without a source change (a binNMU, version ``1.2-3+b1``) still has the
source version ``1.2-3``. So the Debian inventory lists the source package and source version
of every installed binary (``dpkg-query``'s ``${source:Package}`` and ``${source:Version}``),
each pair once: that is what matches the records.

**Distribution.** Debian records are per release (OSV ecosystem ``Debian:12``): ``distro``
is ``VERSION_ID`` of ``/etc/os-release`` on Debian. Other dpkg-based systems (Ubuntu, ...) get
``ID:VERSION_ID`` (``ubuntu:22.04``), so that Debian's records, whose versions do not apply
there, match none of their packages. Debian testing/unstable have no ``VERSION_ID``: empty.

**OS updates.** What ``apt list --upgradable`` shows, read from ``apt-get -s -o
Debug::NoLocking=1 dist-upgrade``: a simulation that needs no root, takes no lock and makes
no network call (it reads the package lists the last ``apt-get update`` fetched). Each ``Inst
pkg [installed] (candidate origins [arch])`` line is one row ``[pkg, candidate, installed,
origins]``; an origin such as ``Debian-Security:12/stable-security`` marks a security update.
Packages a dist-upgrade would newly install are not upgrades and are left out.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from watchkeeper.security.inventory.model import (
    DEBIAN,
    OS_UPDATES,
    Collected,
    CollectError,
    finish,
)
from watchkeeper.security.system_path import SYSTEM_PATH

DPKG_FORMAT = "${Package}\t${Version}\t${Status}\t${source:Package}\t${source:Version}\n"
DPKG_LOCATION = "dpkg"
APT_LOCATION = "apt"
OS_RELEASE = Path("/etc/os-release")

_INST = re.compile(r"^Inst (?P<name>\S+)(?: \[(?P<installed>[^\]]*)\])? \((?P<new>[^)]*)\)")
_ARCH = re.compile(r"\s*\[[^\]]*\]$")


def parse_dpkg(text: str) -> list[tuple[str, str]]:
    """Return the ``(source package, source version)`` of every installed package in
    ``dpkg-query -W -f DPKG_FORMAT`` output (the binary's own name and version when dpkg
    gives no source)."""
    pairs = []
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) < 3 or fields[2].rsplit(" ", 1)[-1] != "installed":
            continue  # removed with its configuration kept, half-installed, ...
        package, version = fields[0], fields[1]
        source = fields[3].strip() if len(fields) > 3 else ""
        source_version = fields[4].strip() if len(fields) > 4 else ""
        pairs.append((source or package, source_version or version))
    return pairs


def parse_os_release(text: str) -> str:
    """Return the ``distro`` of an ``/etc/os-release`` text (see the module docstring)."""
    values = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip().strip("\"'")
    system, version = values.get("ID", ""), values.get("VERSION_ID", "")
    if not version:
        return ""
    return version if system in ("", "debian") else f"{system}:{version}"


def parse_apt_simulation(text: str) -> list[tuple[str, str, str, str]]:
    """Return ``(name, candidate, installed, origins)`` of every upgrade in the output of
    ``apt-get -s dist-upgrade`` (C locale)."""
    rows = []
    for line in text.splitlines():
        match = _INST.match(line)
        if match is None or match["installed"] is None:
            continue  # not an Inst line, or a package newly installed
        candidate, _, origins = _ARCH.sub("", match["new"].strip()).partition(" ")
        rows.append((match["name"], candidate, match["installed"], origins.strip()))
    return rows


def _run(argv: list[str], timeout: float) -> str:
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            env={"LC_ALL": "C", "PATH": SYSTEM_PATH},
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise CollectError(f"{argv[0]}: did not finish within {timeout:g}s") from None
    except OSError as exc:
        raise CollectError(f"{argv[0]}: cannot run it: {exc.strerror or exc}") from None
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith("E:")]
        detail = (errors or lines or ["no message"])[-1].strip()
        raise CollectError(f"{Path(argv[0]).name} exited with {done.returncode}: {detail}")
    return done.stdout


def read_distro(os_release: Path = OS_RELEASE) -> str:
    """Return this host's ``distro`` (empty when os-release cannot be read)."""
    try:
        return parse_os_release(os_release.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return ""


def collect_debian(timeout: float, os_release: Path = OS_RELEASE) -> Collected | None:
    """Return the installed Debian packages (by source package); None on a host without
    dpkg. Raise CollectError when dpkg-query fails."""
    dpkg_query = shutil.which("dpkg-query", path=SYSTEM_PATH)
    if dpkg_query is None:
        return None
    text = _run([dpkg_query, "-W", "-f", DPKG_FORMAT], timeout)
    return finish(DEBIAN, DPKG_LOCATION, parse_dpkg(text), distro=read_distro(os_release))


def collect_os_updates(timeout: float, os_release: Path = OS_RELEASE) -> Collected | None:
    """Return the upgrades apt would make now; None on a host without apt-get. Raise
    CollectError when the simulation fails."""
    apt_get = shutil.which("apt-get", path=SYSTEM_PATH)
    if apt_get is None:
        return None
    text = _run([apt_get, "-s", "-o", "Debug::NoLocking=1", "dist-upgrade"], timeout)
    return finish(
        OS_UPDATES, APT_LOCATION, parse_apt_simulation(text), distro=read_distro(os_release)
    )
