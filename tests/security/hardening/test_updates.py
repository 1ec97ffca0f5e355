"""Automatic security updates on a prepared tree: apt's configuration read as apt reads it
(apt.conf.d in name order, then apt.conf, the last assignment winning, both syntaxes,
comments), and unattended-upgrades installed in dpkg's status file."""

from __future__ import annotations

from pathlib import Path

from tests.security.hardening.support import tree_context, write
from watchkeeper.security.hardening.updates import automatic_updates, parse_apt_config

INSTALLED = (
    "Package: apt\nStatus: install ok installed\nVersion: 2.6.1\n\n"
    "Package: unattended-upgrades\nStatus: install ok installed\nPriority: optional\n"
    "Description: automatic installation of security upgrades\n"
    " This package can download and install security upgrades automatically\n"
)


def test_enabled_by_20auto_upgrades(tmp_path: Path) -> None:
    write(tmp_path, "/var/lib/dpkg/status", INSTALLED)
    write(
        tmp_path,
        "/etc/apt/apt.conf.d/20auto-upgrades",
        'APT::Periodic::Update-Package-Lists "1";\nAPT::Periodic::Unattended-Upgrade "1";\n',
    )
    result = automatic_updates(tree_context(tmp_path))
    assert result.status == "pass"
    assert result.detail == (
        'unattended-upgrades installed; APT::Periodic::Unattended-Upgrade "1" '
        "(/etc/apt/apt.conf.d/20auto-upgrades)"
    )


def test_a_later_file_turns_it_off_in_nested_syntax(tmp_path: Path) -> None:
    write(tmp_path, "/var/lib/dpkg/status", INSTALLED)
    write(
        tmp_path,
        "/etc/apt/apt.conf.d/20auto-upgrades",
        '// enabled by dpkg-reconfigure\nAPT::Periodic::Update-Package-Lists "1";\n'
        'APT::Periodic::Unattended-Upgrade "1";\n',
    )
    write(
        tmp_path,
        "/etc/apt/apt.conf.d/99local",
        '/* someone\n   disabled it */\napt { periodic { unattended-upgrade "0"; }; };\n',
    )
    write(tmp_path, "/etc/apt/apt.conf.d/99zz.bak", 'APT::Periodic::Unattended-Upgrade "1";\n')
    result = automatic_updates(tree_context(tmp_path))
    assert result.status == "fail"
    assert result.detail == (
        'APT::Periodic::Unattended-Upgrade is "0" (/etc/apt/apt.conf.d/99local)'
    )


def test_not_installed_and_not_configured(tmp_path: Path) -> None:
    write(tmp_path, "/var/lib/dpkg/status", "Package: apt\nStatus: install ok installed\n")
    (tmp_path / "etc/apt/apt.conf.d").mkdir(parents=True)
    result = automatic_updates(tree_context(tmp_path))
    assert result.status == "fail"
    assert result.detail.startswith("unattended-upgrades is not installed; ")
    assert 'Unattended-Upgrade is "0" (not set)' in result.detail


def test_not_a_debian_system(tmp_path: Path) -> None:
    assert automatic_updates(tree_context(tmp_path)).status == "skip"


def test_comment_marks_inside_strings_are_values() -> None:
    values: dict[str, tuple[str, str]] = {}
    parse_apt_config(
        'Acquire::http::Proxy "http://proxy:3128"; // the proxy\n'
        'Acquire::ftp::Proxy "ftp://a/*b*/"; # hash comment\n'
        'APT::Periodic::Unattended-Upgrade "1"; /* still\n "0"; */\n'
        "#clear APT::X;\n"
        'APT::Periodic::Update-Package-Lists "#1";\n',
        values,
        "f",
    )
    assert values == {
        "acquire::http::proxy": ("http://proxy:3128", "f"),
        "acquire::ftp::proxy": ("ftp://a/*b*/", "f"),
        "apt::periodic::unattended-upgrade": ("1", "f"),
        "apt::periodic::update-package-lists": ("#1", "f"),
    }
