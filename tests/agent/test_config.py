"""`watchkeeper agent` settings: flags, environment, defaults, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import remember_secret
from watchkeeper.agent.config import load_agent_config, parse_size
from watchkeeper.exceptions import ConfigError

TOKEN = remember_secret("wk_89abcdef_" + "t" * 43)
SERVER = "https://wk.example.com/"


def test_defaults_and_environment(tmp_path: Path) -> None:
    env = {"WATCHKEEPER_AGENT_TOKEN": TOKEN, "WATCHKEEPER_AGENT_SERVER": SERVER}
    config = load_agent_config(env, host_name="db-1")
    assert config.server == "https://wk.example.com"
    assert config.token == TOKEN
    assert config.interval == 10.0
    assert config.spool_max_bytes == 100_000_000
    assert config.spool_dir == Path("~/.watchkeeper-agent/spool").expanduser()
    assert TOKEN not in repr(config)
    home = load_agent_config({**env, "WATCHKEEPER_HOME": str(tmp_path)}, host_name="db-1")
    assert home.spool_dir == tmp_path / "agent-spool"
    assert home.state_directory == tmp_path / "agent-spool" / "state"
    assert home.tail == ()
    tails = load_agent_config(env, host_name="db-1", tail=["/var/log/a/*.log", "/b.log"])
    assert tails.tail == ("/var/log/a/*.log", "/b.log")


def test_the_token_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    assert load_agent_config({}, server=SERVER, token_file=path).token == TOKEN
    env = {"WATCHKEEPER_AGENT_TOKEN_FILE": str(path)}
    assert load_agent_config(env, server=SERVER).token == TOKEN
    flag = load_agent_config(env, server=SERVER, token="wk_flag_wins_over_the_environment")
    assert flag.token == "wk_flag_wins_over_the_environment"


@pytest.mark.parametrize(
    ("kwargs", "env", "message"),
    [
        ({"server": SERVER}, {}, "no API token: give --token-file FILE"),
        ({"token": TOKEN}, {}, "no server: give --server URL"),
        ({"server": "wk.example.com", "token": TOKEN}, {}, "is not an http(s) URL"),
        ({"server": f"https://user:{TOKEN}@wk", "token": TOKEN}, {}, "no credentials in the URL"),
        ({"server": SERVER, "token": TOKEN, "token_file": Path("/x")}, {}, "not both"),
        (
            {"server": SERVER},
            {"WATCHKEEPER_AGENT_TOKEN_FILE": "/nonexistent/token"},
            "cannot read the token file /nonexistent/token",
        ),
        ({"server": SERVER, "token": TOKEN + " extra"}, {}, "contains white space"),
        (
            {"server": SERVER, "token": TOKEN, "interval": "10 sec"},
            {},
            '"10 sec" is not a duration',
        ),
        ({"server": SERVER, "token": TOKEN, "interval": "10ms"}, {}, "too short"),
        ({"server": SERVER, "token": TOKEN, "spool_max_bytes": "lots"}, {}, "is not a size"),
        ({"server": SERVER, "token": TOKEN, "spool_max_bytes": "1kB"}, {}, "too small"),
        ({"server": SERVER, "token": TOKEN, "host_name": "my host"}, {}, "--host-name"),
        ({"server": SERVER, "token": TOKEN, "tail": ["/a.log", " "]}, {}, "--tail needs a file"),
    ],
)
def test_bad_settings_name_the_problem_but_not_the_token(
    kwargs: dict[str, object], env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_agent_config(env, **kwargs)  # type: ignore[arg-type]
    assert message in str(caught.value)
    assert TOKEN not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("512", 512),
        ("64kB", 64_000),
        ("100MB", 100_000_000),
        ("100M", 100_000_000),
        ("1GiB", 2**30),
        ("1.5 KiB", 1536),
        ("2g", 2_000_000_000),
    ],
)
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_a_size_that_is_not_one() -> None:
    for text in ("", "MB", "12 parsecs", "-5"):
        with pytest.raises(ValueError):
            parse_size(text)
