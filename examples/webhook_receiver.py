"""Print the notifications Watchkeeper's webhook channel sends (for trying the tour).

    python3 examples/webhook_receiver.py [PORT]      # default 9095

With WEBHOOK_SECRET set to the channel's `secret`, each signature is verified too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (the http.server API)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        secret = os.environ.get("WEBHOOK_SECRET")
        verdict = ""
        if secret:
            stamp = self.headers.get("X-Watchkeeper-Timestamp", "")
            expected = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256)
            given = self.headers.get("X-Watchkeeper-Signature", "").removeprefix("sha256=")
            verdict = (
                " (signature ok)"
                if hmac.compare_digest(expected.hexdigest(), given)
                else (" (BAD SIGNATURE)")
            )
        message = json.loads(body or b"{}")
        print(f"\n{message.get('title', '')}{verdict}\n{message.get('text', '')}", flush=True)
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9095
    print(f"listening on http://127.0.0.1:{port}/ (Ctrl-C to stop)", flush=True)
    try:
        ThreadingHTTPServer(("127.0.0.1", port), Receiver).serve_forever()
    except KeyboardInterrupt:
        pass
