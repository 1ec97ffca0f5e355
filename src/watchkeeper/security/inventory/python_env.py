"""The installed distributions of a Python environment, read from the metadata files that
installers write, never by importing them.

A location is one of:

- a virtual environment (a directory holding ``pyvenv.cfg`` or ``lib/python*/
  site-packages``): its own site-packages directories (a ``--system-site-packages``
  environment also sees the system's: list the system interpreter as well);
- a site-packages directory;
- an interpreter: a file named as CPython and PyPy name theirs (``python``, ``python3``,
  ``python3.12``, ``pypy3.10``; not ``python3-config``). Read without running it when its
  layout says where its packages are: a virtual environment's (``pyvenv.cfg`` beside it or
  one level up) is read as that environment; one installed in its own prefix
  (``<prefix>/bin/python3.12`` with ``<prefix>/lib/python3.12/os.py``, as pyenv, conda,
  the python container images and ``make install`` lay it out) gives
  ``<prefix>/lib/python3.12/site-packages``. Any other (a distribution's interpreter under
  ``/usr``, whose site directories the distribution patches in, e.g. Debian's
  ``dist-packages``) is run once, isolated (``-I -S``: no environment variables, no user
  site, no ``.pth`` file executed), to print its site-packages directories, and nothing
  else of it runs; and only when it is a regular file, not setuid or setgid, owned by root
  or by the user the agent runs as, and not writable by group or others (the agent often
  runs as root: a plan must not be able to make it run any file).

In each directory, ``*.dist-info/METADATA`` (wheels), ``*.egg-info/PKG-INFO`` or an
``*.egg-info`` file (setuptools, distutils) and ``*.egg/EGG-INFO/PKG-INFO`` give the
``Name`` and ``Version`` of one distribution; names are normalised per PEP 503.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
from pathlib import Path

from watchkeeper.security.inventory.model import (
    PYPI,
    Collected,
    CollectError,
    finish,
    normalise_pypi,
)

SITE_SCRIPT = (
    "import json,site,sysconfig;"
    "print(json.dumps(site.getsitepackages()"
    "+[sysconfig.get_path('purelib'),sysconfig.get_path('platlib')]))"
)
"""Printed by the interpreter: its site-packages directories (``-S``: ``site`` is imported
here without running its ``main``, so that no ``.pth`` file is processed)."""
MAX_HEADER_LINES = 200
"""Lines of a metadata file read for ``Name``/``Version`` (they come first)."""
INTERPRETER_NAME = re.compile(r"(?P<impl>python|pypy)(?P<version>\d+(?:\.\d+)?)?[dmt]?")
"""The file names of CPython and PyPy interpreters (``python3.13t``: free-threaded)."""
DISTRIBUTION_PREFIX = Path("/usr")
"""Where a distribution installs its interpreter, with site directories it patches in."""


def read_metadata(path: Path) -> tuple[str, str] | None:
    """Return ``(name, version)`` from the headers of a METADATA/PKG-INFO file; None when
    it names no distribution. Raise OSError if it cannot be read."""
    name = version = ""
    with path.open(encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh):
            if number >= MAX_HEADER_LINES or not line.strip():
                break  # the headers end at the first empty line
            key, sep, value = line.partition(":")
            if not sep:
                continue
            key = key.strip().lower()
            if key == "name" and not name:
                name = value.strip()
            elif key == "version" and not version:
                version = value.strip()
    return (name, version) if name else None


def _from_directory_name(directory: Path) -> tuple[str, str] | None:
    """``name-version.dist-info`` gives both when the metadata file is missing."""
    stem = directory.name.rsplit(".", 1)[0]
    name, sep, version = stem.partition("-")
    return (name, version.split("-", 1)[0]) if sep and name else None


def list_site_packages(directory: Path) -> tuple[list[tuple[str, str]], int]:
    """Return the ``(normalised name, version)`` of every distribution installed in
    ``directory`` and how many metadata entries were unusable. Raise CollectError if the
    directory cannot be listed."""
    try:
        entries = sorted(directory.iterdir())
    except OSError as exc:
        raise CollectError(f"{directory}: {exc.strerror or exc}") from None
    found: list[tuple[str, str]] = []
    skipped = 0
    for entry in entries:
        suffix = entry.suffix
        if suffix == ".dist-info":
            meta = entry / "METADATA"
        elif suffix == ".egg-info":
            meta = entry / "PKG-INFO" if entry.is_dir() else entry
        elif suffix == ".egg" and entry.is_dir():
            meta = entry / "EGG-INFO" / "PKG-INFO"
        else:
            continue
        try:
            pair = read_metadata(meta)
        except OSError:
            pair = _from_directory_name(entry) if entry.is_dir() else None
        if pair is None or not pair[1]:
            skipped += 1
            continue
        found.append((normalise_pypi(pair[0]), pair[1]))
    return found, skipped


def environment_site_packages(prefix: Path) -> list[Path]:
    """Return the site-packages directories of the environment at ``prefix`` (POSIX
    ``lib/pythonX.Y`` and ``lib64``, Windows ``Lib``), each once."""
    candidates = [
        *sorted(prefix.glob("lib/python*/site-packages")),
        *sorted(prefix.glob("lib64/python*/site-packages")),
        *sorted(prefix.glob("lib/site-packages")),
        *sorted(prefix.glob("Lib/site-packages")),
    ]
    return _unique_dirs(candidates)


def interpreter_site_packages(python: Path, timeout: float) -> list[Path]:
    """Return the site-packages directories ``python`` uses; raise CollectError when it
    cannot be run, fails or takes longer than ``timeout`` seconds."""
    try:
        done = subprocess.run(
            [str(python), "-I", "-S", "-c", SITE_SCRIPT],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={"LC_ALL": "C"},
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise CollectError(f"{python}: did not answer within {timeout:g}s") from None
    except OSError as exc:
        raise CollectError(f"{python}: cannot run it: {exc.strerror or exc}") from None
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        detail = lines[-1] if lines else "no message"
        raise CollectError(f"{python}: exited with {done.returncode}: {detail}")
    try:
        paths = json.loads(done.stdout)
    except ValueError:
        raise CollectError(f"{python}: did not print its site-packages directories") from None
    if not isinstance(paths, list):
        raise CollectError(f"{python}: did not print its site-packages directories")
    return _unique_dirs([Path(p) for p in paths if isinstance(p, str) and p])


def _unique_dirs(paths: list[Path]) -> list[Path]:
    seen: set[str] = set()
    out = []
    for path in paths:
        real = os.path.realpath(path)
        if real not in seen and path.is_dir():
            seen.add(real)
            out.append(path)
    return out


def venv_of(python: Path) -> Path | None:
    """Return the virtual environment ``python`` belongs to (the directory holding the
    ``pyvenv.cfg`` beside it or one level up, found as ``site`` finds it), or None."""
    for directory in (python.parent, python.parent.parent):
        if (directory / "pyvenv.cfg").is_file():
            return directory
    return None


def prefix_site_packages(python: Path) -> list[Path]:
    """Return the site-packages directories of an interpreter installed in its own prefix,
    found from its layout without running it (``<prefix>/bin/python3.12`` with the
    standard library in ``<prefix>/lib/python3.12``); [] when the layout does not say (a
    distribution's interpreter under /usr, an unknown layout, no site-packages)."""
    real = Path(os.path.realpath(python))
    named = INTERPRETER_NAME.fullmatch(real.name) or INTERPRETER_NAME.fullmatch(python.name)
    prefix = real.parent.parent
    if named is None or prefix == DISTRIBUTION_PREFIX:
        return []
    impl, version = named["impl"], named["version"] or ""
    if "." in version:
        libs = [f"{impl}{version}"]
    else:  # python3: the one standard library of that major version in the prefix
        libs = [p.parent.name for p in prefix.glob(f"lib/{impl}{version}*/os.py")]
        if impl == "pypy" and not libs:
            libs = [p.parent.name for p in prefix.glob("lib/pypy*/os.py")]
    if len(libs) != 1 or not (prefix / "lib" / libs[0] / "os.py").is_file():
        return []
    return _unique_dirs(
        [prefix / "lib" / libs[0] / "site-packages", prefix / "lib64" / libs[0] / "site-packages"]
    )


def check_runnable(python: Path) -> Path:
    """Return the file ``python`` names (symbolic links followed) if the inventory may run
    it: a regular executable file named as an interpreter, not setuid or setgid, owned by
    root or by this process's user, not writable by group or others. Raise CollectError
    saying why not."""
    real = Path(os.path.realpath(python))
    if INTERPRETER_NAME.fullmatch(real.name) is None:
        raise CollectError(
            f"{python}: {real} is not named as a Python interpreter (python3, python3.12, "
            "pypy3...); not run"
        )
    try:
        info = real.stat()
    except OSError as exc:
        raise CollectError(f"{python}: {exc.strerror or exc}") from None
    why = ""
    if not stat.S_ISREG(info.st_mode):
        why = "not a regular file"
    elif info.st_mode & (stat.S_ISUID | stat.S_ISGID):
        why = "setuid or setgid"
    elif info.st_uid not in (0, os.geteuid()):
        why = f"owned by uid {info.st_uid}, neither root nor the agent's user"
    elif info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        why = "writable by group or others"
    elif not os.access(real, os.X_OK):
        why = "not executable"
    if why:
        raise CollectError(f"{python}: {real} is {why}; not run")
    return real


def site_directories(location: Path, timeout: float) -> list[Path]:
    """Return the site-packages directories of an interpreter, environment or
    site-packages ``location``, running an interpreter only when its layout does not tell
    (see the module's docstring); raise CollectError naming it when there are none."""
    if location.is_file():
        if INTERPRETER_NAME.fullmatch(location.name) is None:
            raise CollectError(
                f"{location}: not a Python interpreter (python3, python3.12, pypy3...), "
                "environment or site-packages directory"
            )
        env = venv_of(location)
        if env is not None:
            location = env
        else:
            dirs = prefix_site_packages(location)
            if not dirs:
                dirs = interpreter_site_packages(check_runnable(location), timeout)
            if not dirs:
                raise CollectError(f"{location}: the interpreter has no site-packages directory")
            return dirs
    if not location.is_dir():
        raise CollectError(f"{location}: no such file or directory")
    dirs = environment_site_packages(location)
    if dirs:
        return dirs
    if (location / "pyvenv.cfg").exists():
        raise CollectError(f"{location}: a virtual environment without site-packages")
    return [location]


def collect_python(location: str, timeout: float) -> Collected:
    """Return the distributions installed in the Python ``location``; raise CollectError."""
    rows: list[tuple[str, str]] = []
    skipped = 0
    for directory in site_directories(Path(location), timeout):
        found, bad = list_site_packages(directory)
        rows += found
        skipped += bad
    return finish(PYPI, location, rows, skipped=skipped)
