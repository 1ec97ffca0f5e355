"""Real wheels and virtualenvs for the tests, made without a network: a wheel written by
hand (RECORD with hashes, as pip checks it) whose module raises when imported, so that a
test also shows the inventory reads metadata and never imports."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path


def build_wheel(directory: Path, name: str = "WkTest_Pkg", version: str = "1.0") -> Path:
    """A real ``py3-none-any`` wheel of ``name`` ``version`` in ``directory``."""
    dist = f"{name.replace('-', '_').lower()}-{version}"
    files = {
        # Importing it would fail: the inventory must read metadata only.
        "wktestpkg/__init__.py": b"raise RuntimeError('an inventory must not import me')\n",
        f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: "
        f"{version}\nSummary: a test package\n\nThe description.\nName: not-the-name\n".encode(),
        f"{dist}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: watchkeeper-tests\n"
        b"Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for member, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{member},sha256={digest},{len(data)}")
    record.append(f"{dist}.dist-info/RECORD,,")
    files[f"{dist}.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = directory / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for member, data in files.items():
            archive.writestr(member, data)
    return wheel


def make_venv(env: Path) -> Path:
    """An empty virtualenv (``python -m venv --without-pip``) at ``env``."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    return env


def pip_install(env: Path, wheel: Path) -> None:
    """Install ``wheel`` into the virtualenv ``env`` with pip, without an index."""
    pip = [sys.executable, "-m", "pip", "--python", str(env / "bin" / "python")]
    subprocess.run([*pip, "install", "--no-index", "--no-deps", "-q", str(wheel)], check=True)
