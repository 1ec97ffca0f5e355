"""Automatic security updates on Debian and Ubuntu: the ``unattended-upgrades`` package is
installed (``/var/lib/dpkg/status``) and apt's periodic job runs it
(``APT::Periodic::Unattended-Upgrade`` and ``APT::Periodic::Update-Package-Lists`` not
"0").

apt's configuration is read as apt reads it: the files of ``/etc/apt/apt.conf.d`` in name
order (names of letters, digits, ``_``, ``-`` and ``.`` only, backup extensions ignored),
then ``/etc/apt/apt.conf``; a later assignment wins; names are case-insensitive; both the
``A::B::C "v";`` and the nested ``A { B { C "v"; }; };`` forms, and ``//``, ``#`` and
``/* */`` comments.
"""

from __future__ import annotations

import re
from pathlib import Path

from watchkeeper.security.hardening.interface import (
    AuditContext,
    Result,
    check,
    failed,
    passed,
    skipped,
)

PARTS_DIR = "/etc/apt/apt.conf.d"
MAIN_FILE = "/etc/apt/apt.conf"
DPKG_STATUS = "/var/lib/dpkg/status"
PACKAGE = "unattended-upgrades"
UNATTENDED = "apt::periodic::unattended-upgrade"
UPDATE_LISTS = "apt::periodic::update-package-lists"
ENABLE = "apt::periodic::enable"
_VALID_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_IGNORED_EXT = (
    ".disabled",
    ".bak",
    ".save",
    ".orig",
    ".dpkg-old",
    ".dpkg-dist",
    ".dpkg-new",
    ".dpkg-tmp",
    ".ucf-old",
    ".ucf-dist",
    ".ucf-new",
    ".distUpgrade",
)
_TOKEN = re.compile(
    r'"(?P<str>[^"]*)"'  # first: a quoted string may hold "//", "/*" and "#"
    r"|(?P<comment>(?s:/\*.*?\*/)|//[^\n]*|#(?!include\b|clear\b)[^\n]*)"
    r"|(?P<punct>[{};])"
    r'|(?P<word>(?:#(?=include\b|clear\b)|[^\s{};"/#]|/(?![/*]))(?:[^\s{};"/#]|/(?![/*]))*)'
    r"|(?P<other>\S)"
)


def parse_apt_config(text: str, values: dict[str, tuple[str, str]], origin: str) -> None:
    """Add the assignments of one apt configuration file to ``values`` (lower-cased full
    name -> (value, origin)); later ones replace earlier ones. Comments are recognised
    outside quoted strings only, as apt does: ``Acquire::http::Proxy "http://p:3128";``
    holds no comment."""
    scopes: list[str] = []
    key: str | None = None
    value: str | None = None
    for match in _TOKEN.finditer(text):
        word, string, punct = match.group("word"), match.group("str"), match.group("punct")
        if match.group("comment") is not None or match.group("other") is not None:
            continue
        if word is not None and word.startswith("#"):
            key = None  # #include / #clear directives: not needed here
            continue
        if punct == "{":
            if key is not None:
                scopes.append(key)
            key = value = None
        elif punct == "}":
            if scopes:
                scopes.pop()
            key = value = None
        elif punct == ";":
            if key is not None and value is not None:
                full = "::".join([*scopes, key]).lower()
                values[full] = (value, origin)
            key = value = None
        elif key is None:
            key = word if word is not None else string
        else:
            value = string if string is not None else word


def apt_config(ctx: AuditContext) -> dict[str, tuple[str, str]]:
    """Every assignment of the system's apt configuration, as apt would end up with it."""
    values: dict[str, tuple[str, str]] = {}
    parts = ctx.path(PARTS_DIR)
    files: list[tuple[str, Path]] = []
    if parts.is_dir():
        for entry in sorted(parts.iterdir(), key=lambda p: p.name):
            if (
                entry.is_file()
                and _VALID_NAME.match(entry.name)
                and not entry.name.endswith(_IGNORED_EXT)
            ):
                files.append((f"{PARTS_DIR}/{entry.name}", entry))
    main = ctx.path(MAIN_FILE)
    if main.is_file():
        files.append((MAIN_FILE, main))
    for origin, path in files:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        parse_apt_config(text, values, origin)
    return values


def installed(ctx: AuditContext, package: str) -> bool | None:
    """Whether dpkg has ``package`` installed; None when there is no dpkg database."""
    path = ctx.path(DPKG_STATUS)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None
    for stanza in text.split("\n\n"):
        fields = {
            name.strip().lower(): value.strip()
            for name, sep, value in (line.partition(":") for line in stanza.splitlines())
            if sep and not name.startswith((" ", "\t"))
        }
        if fields.get("package") == package:
            return fields.get("status", "").endswith(" installed")
    return False


def _enabled(value: str) -> bool:
    """apt's periodic settings are intervals in days (or ``always``); 0 is off."""
    text = value.strip().lower()
    if text in ("always", "true", "yes"):
        return True
    number = re.match(r"^(\d+)", text)
    return bool(number and int(number.group(1)) > 0)


@check(
    "PKG-AUTO-UPDATES",
    title="Security updates install automatically",
    weight=3,
    scope="host",
    rationale="Most intrusions use vulnerabilities that had a fix for weeks; a host that "
    "installs its distribution's security updates every day closes them without anyone "
    "having to remember.",
    remediation="`apt install unattended-upgrades` and `dpkg-reconfigure -plow "
    "unattended-upgrades` (it writes /etc/apt/apt.conf.d/20auto-upgrades with "
    '`APT::Periodic::Update-Package-Lists "1";` and `APT::Periodic::Unattended-Upgrade '
    '"1";`). Reboots for kernel updates are still yours to plan.',
)
def automatic_updates(ctx: AuditContext) -> Result:
    has_package = installed(ctx, PACKAGE)
    if has_package is None and not ctx.path("/etc/apt").is_dir():
        return skipped(
            "not a Debian/Ubuntu system (no apt, no dpkg): only apt's "
            "unattended-upgrades is checked"
        )
    values = apt_config(ctx)
    problems = []
    if not has_package:
        problems.append(f"{PACKAGE} is not installed")
    for name, label in ((UNATTENDED, "Unattended-Upgrade"), (UPDATE_LISTS, "Update-Package-Lists")):
        value, origin = values.get(name, ("0", ""))
        if not _enabled(value):
            where = f" ({origin})" if origin else " (not set)"
            problems.append(f'APT::Periodic::{label} is "{value}"{where}')
    enable = values.get(ENABLE)
    if enable and not _enabled(enable[0]):
        problems.append(f'APT::Periodic::Enable is "{enable[0]}" ({enable[1]})')
    if problems:
        return failed("; ".join(problems))
    value, origin = values[UNATTENDED]
    return passed(f'{PACKAGE} installed; APT::Periodic::Unattended-Upgrade "{value}" ({origin})')
