"""Settings: defaults, WATCHKEEPER_* variables and their *_FILE variants, the secret key."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from watchkeeper.exceptions import ConfigError
from watchkeeper.settings import SECRET_KEY_FILENAME, load_settings, parse_listen

# -- defaults ---------------------------------------------------------------------------------


def test_defaults_listen_on_loopback_8470_with_sqlite_in_the_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = load_settings(env={"WATCHKEEPER_HOME": str(home)})
    assert (settings.listen_host, settings.listen_port) == ("127.0.0.1", 8470)
    assert settings.home == home
    assert settings.database_url == f"sqlite:///{home.resolve() / 'watchkeeper.db'}"
    assert settings.uses_default_database
    assert settings.plan_path is None
    assert settings.secret_key_value is None
    assert (settings.log_format, settings.log_level) == ("text", "INFO")
    assert settings.public_url is None
    assert settings.base_url == "http://127.0.0.1:8470"


def test_default_home_is_dot_watchkeeper_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(env={})
    assert settings.home == Path(".watchkeeper")
    assert (
        settings.database_url == f"sqlite:///{tmp_path.resolve() / '.watchkeeper'}/watchkeeper.db"
    )


def test_an_explicit_environment_mapping_is_the_only_one_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHKEEPER_LISTEN", "not a listen address")
    monkeypatch.setenv("WATCHKEEPER_LOG_FORMAT", "xml")
    settings = load_settings(env={"WATCHKEEPER_HOME": str(tmp_path)})
    assert settings.listen_port == 8470
    assert settings.log_format == "text"


def test_without_a_mapping_the_process_environment_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHKEEPER_HOME", str(tmp_path))
    monkeypatch.setenv("WATCHKEEPER_LISTEN", "0.0.0.0:9100")
    monkeypatch.delenv("WATCHKEEPER_DATABASE_URL", raising=False)
    monkeypatch.delenv("WATCHKEEPER_DATABASE_URL_FILE", raising=False)
    settings = load_settings()
    assert (settings.listen_host, settings.listen_port) == ("0.0.0.0", 9100)
    assert settings.home == tmp_path


def test_environment_values_are_used(tmp_path: Path) -> None:
    env = {
        "WATCHKEEPER_HOME": str(tmp_path),
        "WATCHKEEPER_DATABASE_URL": "postgresql://wk@db/wk",
        "WATCHKEEPER_PLAN": "plans/prod.yaml",
        "WATCHKEEPER_LOG_FORMAT": "json",
        "WATCHKEEPER_LOG_LEVEL": "debug",
        "WATCHKEEPER_PUBLIC_URL": "https://wk.example.com/",
        "WATCHKEEPER_SECRET_KEY": "k" * 40,
    }
    settings = load_settings(env=env)
    assert settings.database_url == "postgresql://wk@db/wk"
    assert not settings.uses_default_database
    assert settings.plan_path == Path("plans/prod.yaml")
    assert (settings.log_format, settings.log_level) == ("json", "DEBUG")
    assert settings.base_url == "https://wk.example.com"
    assert settings.secret_key_value == "k" * 40
    assert settings.secret_key() == "k" * 40


def test_explicit_arguments_win_over_the_environment(tmp_path: Path) -> None:
    env = {
        "WATCHKEEPER_HOME": str(tmp_path / "env-home"),
        "WATCHKEEPER_DATABASE_URL": "postgresql://wk@db/wk",
        "WATCHKEEPER_LISTEN": "0.0.0.0:1",
        "WATCHKEEPER_PLAN": "env.yaml",
        "WATCHKEEPER_LOG_FORMAT": "text",
    }
    settings = load_settings(
        env=env,
        home=tmp_path / "flag-home",
        database_url="sqlite:///flag.db",
        listen="127.0.0.2:8000",
        plan_path="flag.yaml",
        log_format="json",
    )
    assert settings.home == tmp_path / "flag-home"
    assert settings.database_url == "sqlite:///flag.db"
    assert (settings.listen_host, settings.listen_port) == ("127.0.0.2", 8000)
    assert settings.plan_path == Path("flag.yaml")
    assert settings.log_format == "json"


def test_repr_does_not_show_the_secret_key(tmp_path: Path) -> None:
    settings = load_settings(
        env={"WATCHKEEPER_HOME": str(tmp_path), "WATCHKEEPER_SECRET_KEY": "sekrit-value-123"}
    )
    assert "sekrit-value-123" not in repr(settings)


# -- listen -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "host", "port", "base_url"),
    [
        ("127.0.0.1:8470", "127.0.0.1", 8470, "http://127.0.0.1:8470"),
        ("0.0.0.0:80", "0.0.0.0", 80, "http://127.0.0.1:80"),
        ("  localhost:9000 ", "localhost", 9000, "http://localhost:9000"),
        ("[::1]:9000", "::1", 9000, "http://[::1]:9000"),
        ("[::]:8470", "::", 8470, "http://127.0.0.1:8470"),
        ("example.org:65535", "example.org", 65535, "http://example.org:65535"),
    ],
)
def test_listen_is_parsed_from_the_environment(
    tmp_path: Path, value: str, host: str, port: int, base_url: str
) -> None:
    settings = load_settings(env={"WATCHKEEPER_HOME": str(tmp_path), "WATCHKEEPER_LISTEN": value})
    assert (settings.listen_host, settings.listen_port) == (host, port)
    assert settings.base_url == base_url


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("localhost", "is not host:port"),
        ("8470", "is not host:port"),
        ("localhost:http", 'port "http" is not a number'),
        ("localhost:", 'port "" is not a number'),
        ("localhost:65536", "port 65536 is out of range 0-65535"),
        ("localhost:-1", "port -1 is out of range 0-65535"),
    ],
)
def test_bad_listen_values_raise_config_error(tmp_path: Path, value: str, reason: str) -> None:
    with pytest.raises(ConfigError, match="WATCHKEEPER_LISTEN") as info:
        load_settings(env={"WATCHKEEPER_HOME": str(tmp_path), "WATCHKEEPER_LISTEN": value})
    assert reason in str(info.value)


def test_an_empty_listen_variable_means_the_default(tmp_path: Path) -> None:
    settings = load_settings(env={"WATCHKEEPER_HOME": str(tmp_path), "WATCHKEEPER_LISTEN": ""})
    assert settings.listen_port == 8470


def test_parse_listen_directly() -> None:
    assert parse_listen("[2001:db8::1]:443") == ("2001:db8::1", 443)
    for bad in ("nohost", "", "   "):
        with pytest.raises(ConfigError, match="is not host:port"):
            parse_listen(bad)


def test_a_bare_ipv6_address_without_port_is_rejected() -> None:
    with pytest.raises(ConfigError):
        parse_listen("::1")


# -- *_FILE variants --------------------------------------------------------------------------


def test_secret_key_can_come_from_a_file(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("from-a-file-0123456789\n", encoding="utf-8")
    settings = load_settings(
        env={
            "WATCHKEEPER_HOME": str(tmp_path / "home"),
            "WATCHKEEPER_SECRET_KEY_FILE": str(key_file),
        }
    )
    assert settings.secret_key_value == "from-a-file-0123456789"
    assert settings.secret_key() == "from-a-file-0123456789"
    assert not (tmp_path / "home" / SECRET_KEY_FILENAME).exists()


def test_database_url_can_come_from_a_file(tmp_path: Path) -> None:
    url_file = tmp_path / "db_url"
    url_file.write_text("postgresql://wk:pw@db:5432/wk\n", encoding="utf-8")
    settings = load_settings(
        env={"WATCHKEEPER_HOME": str(tmp_path), "WATCHKEEPER_DATABASE_URL_FILE": str(url_file)}
    )
    assert settings.database_url == "postgresql://wk:pw@db:5432/wk"


@pytest.mark.parametrize("name", ["WATCHKEEPER_SECRET_KEY", "WATCHKEEPER_DATABASE_URL"])
def test_setting_both_a_variable_and_its_file_variant_is_an_error(
    tmp_path: Path, name: str
) -> None:
    value_file = tmp_path / "value"
    value_file.write_text("postgresql://x@y/z", encoding="utf-8")
    env = {
        "WATCHKEEPER_HOME": str(tmp_path),
        name: "postgresql://a@b/c",
        f"{name}_FILE": str(value_file),
    }
    with pytest.raises(ConfigError) as info:
        load_settings(env=env)
    assert str(info.value) == f"set either {name} or {name}_FILE, not both"


@pytest.mark.parametrize("name", ["WATCHKEEPER_SECRET_KEY", "WATCHKEEPER_DATABASE_URL"])
def test_an_unreadable_file_variant_is_a_config_error(tmp_path: Path, name: str) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(ConfigError) as info:
        load_settings(env={"WATCHKEEPER_HOME": str(tmp_path), f"{name}_FILE": str(missing)})
    message = str(info.value)
    assert message.startswith(f"{name}_FILE: cannot read {missing}")
    assert "No such file or directory" in message


def test_a_database_url_flag_wins_over_the_file_variant(tmp_path: Path) -> None:
    url_file = tmp_path / "db_url"
    url_file.write_text("postgresql://from@file/db", encoding="utf-8")
    settings = load_settings(
        env={"WATCHKEEPER_HOME": str(tmp_path), "WATCHKEEPER_DATABASE_URL_FILE": str(url_file)},
        database_url="sqlite:///flag.db",
    )
    assert settings.database_url == "sqlite:///flag.db"


# -- the generated secret key -----------------------------------------------------------------


def test_secret_key_is_generated_into_the_home_with_mode_0600(tmp_path: Path) -> None:
    home = tmp_path / "not-yet-created"
    settings = load_settings(env={"WATCHKEEPER_HOME": str(home)})
    key = settings.secret_key()
    path = home / SECRET_KEY_FILENAME
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text(encoding="utf-8") == key + "\n"
    assert len(key) >= 32


def test_generated_secret_key_is_stable_across_calls_and_processes(tmp_path: Path) -> None:
    env = {"WATCHKEEPER_HOME": str(tmp_path)}
    first = load_settings(env=env).secret_key()
    assert load_settings(env=env).secret_key() == first
    settings = load_settings(env=env)
    assert settings.secret_key() == settings.secret_key() == first
    assert stat.S_IMODE((tmp_path / SECRET_KEY_FILENAME).stat().st_mode) == 0o600


def test_different_homes_get_different_secret_keys(tmp_path: Path) -> None:
    a = load_settings(env={"WATCHKEEPER_HOME": str(tmp_path / "a")}).secret_key()
    b = load_settings(env={"WATCHKEEPER_HOME": str(tmp_path / "b")}).secret_key()
    assert a != b


# -- logging settings -------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["xml", "JSON", "plain"])
def test_a_bad_log_format_is_a_config_error(tmp_path: Path, fmt: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(env={"WATCHKEEPER_HOME": str(tmp_path), "WATCHKEEPER_LOG_FORMAT": fmt})
    assert str(info.value) == f'WATCHKEEPER_LOG_FORMAT: "{fmt}" is not one of text, json'


def test_a_bad_log_format_flag_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="WATCHKEEPER_LOG_FORMAT"):
        load_settings(env={"WATCHKEEPER_HOME": str(tmp_path)}, log_format="yaml")


@pytest.mark.parametrize(("value", "level"), [("debug", "DEBUG"), ("Warning", "WARNING")])
def test_log_level_is_case_insensitive(tmp_path: Path, value: str, level: str) -> None:
    settings = load_settings(
        env={"WATCHKEEPER_HOME": str(tmp_path), "WATCHKEEPER_LOG_LEVEL": value}
    )
    assert settings.log_level == level


def test_a_bad_log_level_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="WATCHKEEPER_LOG_LEVEL"):
        load_settings(env={"WATCHKEEPER_HOME": str(tmp_path), "WATCHKEEPER_LOG_LEVEL": "verbose"})
