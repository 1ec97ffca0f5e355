"""The whole path on a real `watchkeeper up`: a check goes down → alert → incident → page to a
loopback webhook → escalation to the next step after its timeout → acknowledge through the
signed link → resolve → the postmortem draft holds the timeline. And a restart in the
middle of an escalation continues it."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from tests.helpers import UpProcess
from watchkeeper.auth.audit import Actor
from watchkeeper.store.engine import make_engine, session_factory
from watchkeeper.store.tables import Incident


class Hooks:
    """A loopback webhook receiver: every JSON body POSTed, by path."""

    def __init__(self) -> None:
        self.bodies: dict[str, list[dict[str, Any]]] = {}
        self.lock = threading.Lock()
        hooks = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with hooks.lock:
                    hooks.bodies.setdefault(self.path, []).append(body)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def got(self, path: str) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.bodies.get(path, []))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def listening() -> Iterator[tuple[socket.socket, int]]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(50)
    try:
        yield sock, sock.getsockname()[1]
    finally:
        sock.close()


def plan_text(hooks: Hooks, port: int, escalate_after: str) -> str:
    return f"""
version: 1
checks:
  - {{name: shop, type: tcp, host: 127.0.0.1, port: {port}, interval: 1s, timeout: 1s}}
alerts:
  rules:
    - name: ShopDown
      check: shop
      severity: critical
      labels: {{service: shop}}
      annotations: {{summary: "The shop does not answer"}}
  route:
    receiver: chat
    group_wait: 0s
notifications:
  channels:
    - {{name: chat, type: webhook, url: "{hooks.url}/chat"}}
    - {{name: alice-hook, type: webhook, url: "{hooks.url}/alice"}}
    - {{name: bob-hook, type: webhook, url: "{hooks.url}/bob"}}
oncall:
  people:
    - {{name: alice, contact: [{{channel: alice-hook}}]}}
    - {{name: bob, contact: [{{channel: bob-hook}}]}}
  schedules:
    - name: primary
      layers: [{{rotation: daily, members: [alice]}}]
  escalation_policies:
    - name: default
      steps:
        - notify: [{{schedule: primary}}]
          escalate_after: {escalate_after}
        - notify: [{{person: bob}}]
          escalate_after: 1h
incidents:
  auto_open:
    - matchers: ['severity="critical"']
      escalation: default
      team: shop-team
"""


def until(predicate: Callable[[], Any], up: UpProcess, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = predicate()
        if found:
            return found
        assert time.monotonic() < deadline, up.output[-5000:]
        time.sleep(0.1)


def test_check_down_to_postmortem_through_escalation_and_the_signed_link(tmp_path: Path) -> None:
    hooks = Hooks()
    plan = tmp_path / "watchkeeper.yaml"
    store = f"sqlite:///{tmp_path / 'home' / 'watchkeeper.db'}"
    try:
        with listening() as (sock, port):
            plan.write_text(plan_text(hooks, port, "4s"))
            up = UpProcess(tmp_path, plan)
            with up:
                up.wait_for(r"running at")
                sock.close()  # the shop goes down
                page = until(lambda: hooks.got("/alice"), up)[0]
                assert hooks.got("/chat")[0]["status"] == "firing"  # the route's own message
                incident = page["incident"]
                assert incident["severity"] == "SEV2" and incident["person"] == "alice"
                assert incident["title"] == "The shop does not answer"
                assert hooks.got("/bob") == []
                # not acknowledged within 4 s: the next step pages bob
                until(lambda: hooks.got("/bob"), up)
                assert len(hooks.got("/alice")) == 1

                ack_url = incident["ack_url"]
                assert re.fullmatch(rf"http://127\.0\.0\.1:{up.port}/i/[\w\-]+\.[\w\-]+", ack_url)
                shown = httpx.get(ack_url)
                assert shown.status_code == 200 and "Acknowledge as alice" in shown.text
                done = httpx.post(ack_url)
                assert done.status_code == 200 and "the escalation stopped" in done.text
                # a forged link is refused
                assert httpx.get(ack_url[:-3] + "xyz").status_code == 404

                resolved = httpx.post(incident["resolve_url"])
                assert resolved.status_code == 200 and "Resolved as alice" in resolved.text
                assert up.stop() == 0
        engine = make_engine(store)
        try:
            with session_factory(engine)() as db:
                (row,) = db.scalars(select(Incident)).all()
                assert (row.status, row.acknowledged_by, row.resolved_by) == (
                    "resolved",
                    "alice",
                    "alice",
                )
                assert row.team == "shop-team" and row.services == ["shop"]
                from watchkeeper.incidents import postmortem

                draft = postmortem.draft(db, row.id, Actor("alice"))
                db.commit()
                body = draft.body
        finally:
            engine.dispose()
        for expected in (
            "The shop does not answer",
            "opened from alert group",
            "ShopDown firing",
            "paged alice",
            "paged bob",
            "acknowledged via signed link",
            "resolved via signed link",
        ):
            assert expected in body, expected
        assert "Traceback" not in up.output
    finally:
        hooks.close()


def test_a_restart_in_the_middle_of_an_escalation_continues_it(tmp_path: Path) -> None:
    hooks = Hooks()
    plan = tmp_path / "watchkeeper.yaml"
    try:
        with listening() as (sock, port):
            plan.write_text(plan_text(hooks, port, "6s"))
            with UpProcess(tmp_path, plan) as up:
                up.wait_for(r"running at")
                sock.close()
                until(lambda: hooks.got("/alice"), up)
                assert up.stop() == 0  # stopped before step 2 was due
            assert hooks.got("/bob") == []
            with UpProcess(tmp_path, plan) as up:
                up.wait_for(r"running at")
                until(lambda: hooks.got("/bob"), up)
                assert len(hooks.got("/alice")) == 1  # step 1 is not paged again
                assert up.stop() == 0
            assert "Traceback" not in up.output
    finally:
        hooks.close()
