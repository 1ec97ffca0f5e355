"""SSH checks on a prepared /etc/ssh: the first value wins, includes (relative to /etc/ssh,
globbed in lexical order) are read where they appear, Match blocks only note, and sshd's
documented defaults apply when a keyword is absent."""

from __future__ import annotations

from pathlib import Path

from tests.security.hardening.support import tree_context, write
from watchkeeper.security.hardening.sshd import parse_sshd_config, password_auth, root_login


def test_first_value_wins_across_includes_in_lexical_order(tmp_path: Path) -> None:
    write(
        tmp_path,
        "/etc/ssh/sshd_config",
        "# Debian puts the include first so that drop-ins win\n"
        "Include sshd_config.d/*.conf\n"
        "PermitRootLogin yes\n"
        "PasswordAuthentication yes\n",
    )
    write(tmp_path, "/etc/ssh/sshd_config.d/50-local.conf", "passwordauthentication=no\n")
    write(tmp_path, "/etc/ssh/sshd_config.d/10-hardening.conf", "PermitRootLogin  no # CIS\n")
    write(tmp_path, "/etc/ssh/sshd_config.d/99-ignored.disabled", "PermitRootLogin yes\n")
    write(tmp_path, "/etc/ssh/sshd_config.d/20-kbd.conf", 'KbdInteractiveAuthentication "no"\n')
    ctx = tree_context(tmp_path)

    config = parse_sshd_config(ctx)
    assert config.files == [
        "/etc/ssh/sshd_config",
        "/etc/ssh/sshd_config.d/10-hardening.conf",
        "/etc/ssh/sshd_config.d/20-kbd.conf",
        "/etc/ssh/sshd_config.d/50-local.conf",
    ]
    root = root_login(ctx)
    assert root.status == "pass"
    assert root.detail == "PermitRootLogin no (set at /etc/ssh/sshd_config.d/10-hardening.conf:1)"
    assert password_auth(ctx).status == "pass"


def test_defaults_when_absent_fail_both(tmp_path: Path) -> None:
    write(tmp_path, "/etc/ssh/sshd_config", "Port 22\nUsePAM yes\n")
    ctx = tree_context(tmp_path)

    root = root_login(ctx)
    assert root.status == "fail"
    assert "prohibit-password (not set: sshd's default)" in root.detail
    password = password_auth(ctx)
    assert password.status == "fail"
    assert "PasswordAuthentication yes (not set: sshd's default)" in password.detail


def test_keyboard_interactive_through_pam_still_asks_for_passwords(tmp_path: Path) -> None:
    write(
        tmp_path,
        "/etc/ssh/sshd_config",
        "PasswordAuthentication no\nUsePAM yes\nChallengeResponseAuthentication yes\n",
    )
    result = password_auth(tree_context(tmp_path))
    assert result.status == "fail"
    assert "KbdInteractiveAuthentication yes (set at /etc/ssh/sshd_config:3)" in result.detail
    assert "PAM ask for the password" in result.detail


def test_match_blocks_are_noted_not_global(tmp_path: Path) -> None:
    write(
        tmp_path,
        "/etc/ssh/sshd_config",
        "PermitRootLogin no\n"
        "Match Address 10.0.0.0/8\n"
        "    PasswordAuthentication yes\n"
        "    Include /etc/ssh/backup.conf\n"
        "Match all\n"
        "PasswordAuthentication no\n",
    )
    # Included inside the Match block: belongs to it; its own Match ends with the file.
    write(tmp_path, "/etc/ssh/backup.conf", "PermitRootLogin forced-commands-only\n")
    ctx = tree_context(tmp_path)

    password = password_auth(ctx)
    assert password.status == "pass"
    assert password.detail.startswith("PasswordAuthentication no (set at /etc/ssh/sshd_config:6)")
    assert '"Match Address 10.0.0.0/8" sets yes (/etc/ssh/sshd_config:3)' in password.detail
    root = root_login(ctx)
    assert root.status == "pass"
    assert root.detail == "PermitRootLogin no (set at /etc/ssh/sshd_config:1)"


def test_match_all_overrides_the_global_value(tmp_path: Path) -> None:
    write(tmp_path, "/etc/ssh/sshd_config", "PermitRootLogin no\nMatch all\nPermitRootLogin yes\n")
    result = root_login(tree_context(tmp_path))
    assert result.status == "fail"
    assert "PermitRootLogin yes (set at /etc/ssh/sshd_config:3)" in result.detail


def test_an_included_match_does_not_leak_into_the_including_file(tmp_path: Path) -> None:
    write(
        tmp_path,
        "/etc/ssh/sshd_config",
        "Include conf.d/match.conf\nPermitRootLogin no\n",
    )
    write(tmp_path, "/etc/ssh/conf.d/match.conf", "Match User deploy\nPermitRootLogin yes\n")
    result = root_login(tree_context(tmp_path))
    assert result.status == "pass"
    assert "(set at /etc/ssh/sshd_config:2)" in result.detail


def test_no_sshd_config_is_a_skip(tmp_path: Path) -> None:
    result = root_login(tree_context(tmp_path))
    assert result.status == "skip"
    assert "no SSH server" in result.detail


def test_an_unreadable_include_is_said(tmp_path: Path) -> None:
    write(tmp_path, "/etc/ssh/sshd_config", "Include extra.conf missing.conf\nPermitRootLogin no\n")
    (tmp_path / "etc/ssh/extra.conf").mkdir()  # cannot be read as a file
    result = root_login(tree_context(tmp_path))
    assert result.status == "pass"
    assert result.detail.endswith("; cannot read /etc/ssh/extra.conf: Is a directory")
