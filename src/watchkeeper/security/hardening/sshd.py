"""SSH server checks: root login and password authentication, read from ``sshd_config`` the
way sshd reads it (sshd_config(5)):

- keywords are case-insensitive; a keyword and its arguments are separated by white space
  or one ``=``; ``#`` starts a comment;
- for each keyword the first value obtained is used;
- ``Include`` takes one or more paths with glob(7) wildcards, expanded in lexical order;
  relative paths are under ``/etc/ssh``; an included file cannot change the Match state of
  the file that includes it, and an ``Include`` inside a ``Match`` block belongs to it;
- a ``Match`` block lasts until the next ``Match`` line or the end of its file. Values in a
  block apply only to the connections it matches: they are noted in the detail, but the
  verdict follows what every connection gets (the global value, or a ``Match all`` block's).

Defaults when a keyword is absent, as sshd_config(5) documents them: ``PermitRootLogin
prohibit-password``, ``PasswordAuthentication yes``, ``KbdInteractiveAuthentication yes``
(``ChallengeResponseAuthentication`` is its older name) and ``UsePAM no``.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from watchkeeper.security.hardening.interface import (
    AuditContext,
    Result,
    check,
    failed,
    passed,
    skipped,
)

SSHD_CONFIG = "/etc/ssh/sshd_config"
SSH_DIR = "/etc/ssh"
MAX_DEPTH = 16  # sshd's own limit on nested includes
DEFAULTS = {
    "permitrootlogin": "prohibit-password",
    "passwordauthentication": "yes",
    "kbdinteractiveauthentication": "yes",
    "usepam": "no",
}
ALIASES = {"challengeresponseauthentication": "kbdinteractiveauthentication"}


@dataclass(frozen=True)
class Setting:
    """One occurrence of a keyword: its first argument, where it is, and the criteria of the
    Match block it is in (None: global)."""

    value: str
    file: str
    line: int
    match: str | None = None

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class SshdConfig:
    """Every occurrence of every keyword, in the order sshd reads them."""

    settings: dict[str, list[Setting]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def effective(self, keyword: str) -> Setting | None:
        """The value every connection gets: the first one in a ``Match all`` block, else
        the first global one; None when absent (sshd's default applies)."""
        found = self.settings.get(keyword.lower(), [])
        for setting in found:
            if setting.match == "all":
                return setting
        return next((s for s in found if s.match is None), None)

    def value(self, keyword: str) -> str:
        """The effective value, or sshd's documented default."""
        setting = self.effective(keyword)
        return setting.value.lower() if setting else DEFAULTS[keyword.lower()]

    def conditional(self, keyword: str) -> list[Setting]:
        """The values set in Match blocks other than ``Match all`` (first one per block)."""
        seen: set[str] = set()
        out = []
        for setting in self.settings.get(keyword.lower(), []):
            if setting.match not in (None, "all") and setting.match not in seen:
                seen.add(setting.match)
                out.append(setting)
        return out


def _split(line: str) -> tuple[str, list[str]] | None:
    """``(keyword, arguments)`` of a line; None for blank lines and comments."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    end = 0
    while end < len(text) and not text[end].isspace() and text[end] != "=":
        end += 1
    keyword, rest = text[:end], text[end:].lstrip()
    if rest.startswith("="):
        rest = rest[1:].lstrip()
    args: list[str] = []
    token, quoted, started = "", False, False
    for char in rest:
        if char == '"':
            quoted, started = not quoted, True
        elif char.isspace() and not quoted:
            if started:
                args.append(token)
            token, started = "", False
        elif char == "#" and not quoted and not started:
            break  # a comment after the arguments
        else:
            token, started = token + char, True
    if started:
        args.append(token)
    return keyword, args


def parse_sshd_config(ctx: AuditContext, path: str = SSHD_CONFIG) -> SshdConfig:
    """Read ``path`` (a system path, read under ``ctx.root``) and every file it includes;
    raise FileNotFoundError when ``path`` itself does not exist."""
    config = SshdConfig()
    _parse(ctx, path, None, 0, config, required=True)
    return config


def _parse(
    ctx: AuditContext,
    path: str,
    match: str | None,
    depth: int,
    config: SshdConfig,
    *,
    required: bool,
) -> None:
    try:
        text = ctx.path(path).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        if required:
            raise
        return  # sshd skips an include that names nothing
    except OSError as exc:
        config.problems.append(f"cannot read {path}: {exc.strerror or exc}")
        return
    config.files.append(path)
    for number, line in enumerate(text.splitlines(), start=1):
        parts = _split(line)
        if parts is None:
            continue
        keyword, args = parts
        name = keyword.lower()
        if name == "match":
            criteria = " ".join(args)
            match = "all" if criteria.lower() == "all" else criteria
            continue
        if name == "include":
            if depth + 1 >= MAX_DEPTH:
                config.problems.append(f"{path}:{number}: includes nested too deeply")
                continue
            for pattern in args:
                for included in _expand(ctx, pattern):
                    # The included file starts in this file's Match state and cannot end it.
                    _parse(ctx, included, match, depth + 1, config, required=False)
            continue
        if args:
            name = ALIASES.get(name, name)
            config.settings.setdefault(name, []).append(Setting(args[0], path, number, match))


def _expand(ctx: AuditContext, pattern: str) -> list[str]:
    """The system paths an ``Include`` pattern names, in lexical order."""
    if pattern.startswith("~"):
        return []  # a user's home: not part of the system configuration audited here
    full = pattern if pattern.startswith("/") else f"{SSH_DIR}/{pattern}"
    if not glob.has_magic(full):
        return [full]
    root = ctx.root
    found = sorted(glob.glob(str(ctx.path(full))))
    return [
        str(PurePosixPath("/") / Path(hit).relative_to(root))
        for hit in found
        if Path(hit).is_file()
    ]


def _read(ctx: AuditContext) -> SshdConfig | Result:
    try:
        return parse_sshd_config(ctx)
    except FileNotFoundError:
        return skipped(f"{SSHD_CONFIG} does not exist: no SSH server configured here")
    except OSError as exc:
        return Result("error", f"cannot read {SSHD_CONFIG}: {exc.strerror or exc}")


def _source(config: SshdConfig, keyword: str) -> str:
    setting = config.effective(keyword)
    return f"set at {setting.where}" if setting else "not set: sshd's default"


def _exceptions(config: SshdConfig, keyword: str, bad: set[str]) -> str:
    """The notes shown after the verdict: Match blocks that set an insecure value, and
    files that could not be read (the verdict may not be sshd's)."""
    notes = [
        f'"Match {s.match}" sets {s.value} ({s.where})'
        for s in config.conditional(keyword)
        if s.value.lower() in bad
    ]
    text = f"; but {'; '.join(notes)}" if notes else ""
    return text + "".join(f"; {problem}" for problem in config.problems)


@check(
    "SSH-ROOT-LOGIN",
    title="SSH does not let root log in",
    weight=5,
    scope="host",
    rationale="A root login skips the named account that sudo would log, and root is the "
    "account every attacker tries first; with prohibit-password (sshd's default) a stolen "
    "or forgotten root key still opens the whole machine.",
    remediation="Set `PermitRootLogin no` in /etc/ssh/sshd_config (before any Match block, "
    "and mind files it includes: the first value wins), log in as a named user and use "
    "sudo; then `systemctl reload ssh`.",
)
def root_login(ctx: AuditContext) -> Result:
    config = _read(ctx)
    if isinstance(config, Result):
        return config
    value = config.value("PermitRootLogin")
    note = _exceptions(config, "PermitRootLogin", {"yes", "prohibit-password", "without-password"})
    detail = f"PermitRootLogin {value} ({_source(config, 'PermitRootLogin')}){note}"
    if value in ("no", "forced-commands-only"):
        return passed(detail)
    return failed(detail)


@check(
    "SSH-PASSWORD-AUTH",
    title="SSH accepts no passwords",
    weight=4,
    scope="host",
    rationale="Passwords can be guessed, and bots try them on every SSH server on the "
    "internet all day; keys cannot be guessed.",
    remediation="Set `PasswordAuthentication no` and `KbdInteractiveAuthentication no` in "
    "/etc/ssh/sshd_config (the first value wins, includes first), after installing your "
    "public keys in ~/.ssh/authorized_keys; then `systemctl reload ssh`.",
)
def password_auth(ctx: AuditContext) -> Result:
    config = _read(ctx)
    if isinstance(config, Result):
        return config
    value = config.value("PasswordAuthentication")
    note = _exceptions(config, "PasswordAuthentication", {"yes"})
    detail = f"PasswordAuthentication {value} ({_source(config, 'PasswordAuthentication')})"
    if value != "no":
        return failed(detail + note)
    kbd, pam = config.value("KbdInteractiveAuthentication"), config.value("UsePAM")
    if kbd != "no" and pam == "yes":
        return failed(
            f"{detail}, but KbdInteractiveAuthentication {kbd} "
            f"({_source(config, 'KbdInteractiveAuthentication')}) with UsePAM yes lets PAM "
            f"ask for the password{note}"
        )
    return passed(detail + note)
