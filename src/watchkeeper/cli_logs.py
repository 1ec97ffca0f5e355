"""The ``watchkeeper logs`` commands: query the logs and list streams of a running server.

They go through the HTTP API (``/api/v1/logs/...``) with an API token: the log store's
directory belongs to the running server, and in a cluster each replica holds its own. The
server is ``--server`` or ``WATCHKEEPER_URL`` (default: this host's own address from
``WATCHKEEPER_PUBLIC_URL`` / ``WATCHKEEPER_LISTEN``); the token is ``--token``,
``WATCHKEEPER_TOKEN`` or the file named by ``WATCHKEEPER_TOKEN_FILE``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    import httpx

logs_app = typer.Typer(help="Query the logs of a running server.", no_args_is_help=True)

ServerOpt = Annotated[
    str | None,
    typer.Option("--server", help="Server URL (env WATCHKEEPER_URL; default: this host's)."),
]
TokenOpt = Annotated[
    str | None,
    typer.Option(
        "--token",
        help="API token, viewer role or above (env WATCHKEEPER_TOKEN or WATCHKEEPER_TOKEN_FILE).",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON object per line.")]


def _fatal(message: str) -> NoReturn:
    from watchkeeper.cli import fatal

    fatal(message)


def _target(server: str | None, token: str | None) -> tuple[str, str]:
    """The server URL and token from the options, then the environment."""
    from watchkeeper.exceptions import WatchkeeperError
    from watchkeeper.logging_setup import register_secret
    from watchkeeper.settings import environment, load_settings

    env = environment()
    url = server or env.get("WATCHKEEPER_URL")
    if not url:
        try:
            url = load_settings(env=env).base_url
        except WatchkeeperError as exc:
            _fatal(str(exc))
    if not url.startswith(("http://", "https://")):
        _fatal(f'--server: "{url}" is not an http:// or https:// URL')
    if token is None:
        token = env.get("WATCHKEEPER_TOKEN")
        file_name = env.get("WATCHKEEPER_TOKEN_FILE")
        if token and file_name:
            _fatal("set either WATCHKEEPER_TOKEN or WATCHKEEPER_TOKEN_FILE, not both")
        if file_name:
            try:
                token = Path(file_name).read_text(encoding="utf-8").strip()
            except OSError as exc:
                _fatal(f"WATCHKEEPER_TOKEN_FILE: cannot read {file_name}: {exc.strerror}")
    if not token:
        _fatal("give an API token: --token, or WATCHKEEPER_TOKEN (see `watchkeeper token create`)")
    register_secret(token)
    return url.rstrip("/"), token


def _get(server: str | None, token: str | None, path: str, params: dict[str, str]) -> Any:
    """GET an API path; any failure ends the command with a one-line reason."""
    import httpx  # only for the commands that call a server: others start without it

    url, secret = _target(server, token)
    try:
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {secret}"}, timeout=60
        ) as client:
            resp = client.get(path, params=params)
    except httpx.HTTPError as exc:
        _fatal(f"cannot reach {url}: {exc}")
    if resp.status_code == 401:
        _fatal(f"{url} refused the token (unknown, expired or revoked)")
    if resp.status_code == 403:
        _fatal("the token's role may not read logs (viewer or above is needed)")
    if resp.status_code >= 400:
        _fatal(_problem(resp))
    try:
        return resp.json()
    except ValueError:
        _fatal(f"{url} did not answer with JSON (is it a Watchkeeper server?)")


def _problem(resp: httpx.Response) -> str:
    """The reason of a problem+json answer, naming the field (and query position)."""
    try:
        body = resp.json()
    except ValueError:
        return f"the server answered {resp.status_code}"
    errors = body.get("errors") if isinstance(body, dict) else None
    if errors:
        first = errors[0]
        text = f"{first.get('field', '?')}: {first.get('message', '')}"
    else:
        text = str(body.get("detail") or body.get("title") or resp.status_code)
    return text


def _labels(labels: dict[str, str]) -> str:
    from watchkeeper.logs.selector import quote

    return "{" + ", ".join(f"{k}={quote(v)}" for k, v in sorted(labels.items())) + "}"


def human_bytes(value: float) -> str:
    """``value`` bytes in binary units (``16.0 GiB``)."""
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
    size, unit = float(value), 0
    while size >= 1024 and unit < len(units) - 1:
        size, unit = size / 1024, unit + 1
    return f"{size:.1f} {units[unit]}" if unit else f"{int(size)} B"


def _since(value: str) -> str:
    from pydantic_core import PydanticCustomError

    from watchkeeper.plan.types import parse_duration

    try:
        span = parse_duration(value)
    except PydanticCustomError:
        _fatal(f'--since: "{value}" is not a duration (use 15m, 1h, 7d)')
    if span.total_seconds() <= 0:
        _fatal("--since: must be longer than 0s")
    return f"now-{int(span.total_seconds())}s"


@logs_app.command("query")
def logs_query(
    query: Annotated[
        str,
        typer.Argument(help='A log query, e.g. \'{app="api"} |= "error"\', or a metric query.'),
    ],
    since: Annotated[str, typer.Option(help="How far back to look (15m, 1h, 7d).")] = "1h",
    limit: Annotated[int, typer.Option(min=1, max=5000, help="Most lines to show.")] = 100,
    json_: JsonOpt = False,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Show the lines matching QUERY, newest first (or a metric query's values now)."""
    from watchkeeper.cli import err, out

    params = {"query": query, "start": _since(since), "end": "now", "limit": str(limit)}
    body = _get(server, token, "/api/v1/logs/query", params)
    if body.get("resultType") == "vector":
        series = body.get("result", [])
        if json_:
            for item in series:
                typer.echo(json.dumps({"labels": item["labels"], "value": item["value"][1]}))
            return
        if not series:
            err.print("no series", highlight=False)
            return
        table = Table("labels", "value")
        for item in series:
            table.add_row(Text(_labels(item["labels"])), f"{item['value'][1]:g}")
        out.print(table)
        return
    lines = body.get("lines", [])
    if json_:
        for line in lines:
            typer.echo(json.dumps(line, ensure_ascii=False))
    elif lines:
        table = Table("time (UTC)", "labels", "message")
        for line in lines:
            stamp = line["ts"][:23].replace("T", " ")
            table.add_row(stamp, Text(_labels(line["labels"])), Text(line["message"]))
        out.print(table)
    else:
        err.print(f"no lines in the last {since}", highlight=False)
    if body.get("stats", {}).get("truncated"):
        err.print(f"showing the newest {len(lines)}; more match (--limit)", highlight=False)


@logs_app.command("streams")
def logs_streams(
    json_: JsonOpt = False,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """List the streams with their lines, disk use, time span and retention."""
    from watchkeeper.cli import err, out

    body = _get(server, token, "/api/v1/logs/streams", {})
    streams = body.get("streams", [])
    if json_:
        for stream in streams:
            typer.echo(json.dumps(stream, ensure_ascii=False))
        return
    if not streams:
        err.print("no streams", highlight=False)
        return
    table = Table("labels", "lines", "stored", "oldest", "newest", "retention")
    for s in streams:
        cap = f", max {human_bytes(s['max_size'])}" if s.get("max_size") else ""
        table.add_row(
            Text(_labels(s["labels"])),
            f"{s['lines']:,}",
            human_bytes(s["stored_bytes"]),
            (s.get("oldest") or "")[:19].replace("T", " "),
            (s.get("newest") or "")[:19].replace("T", " "),
            f"{s.get('retention', '')}{cap}",
        )
    out.print(table)
    out.print(
        f"{len(streams)} stream(s), {human_bytes(body.get('disk_bytes', 0))} on disk",
        highlight=False,
    )
