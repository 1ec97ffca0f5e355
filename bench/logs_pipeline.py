"""Time the log parsing step (``watchkeeper.logs.pipeline.Processor``) per line.

python bench/logs_pipeline.py [--lines 100000]
Prints µs per line (best of 5 runs) for: a plain syslog-like line with no pipeline, a JSON
line, a logfmt line, a line through a 5-stage pipeline, and a plain line under all six
global masks. The ingest target (100,000 lines/s on 2 cores, everything included) leaves
about 10 µs per line for the whole path.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable

from watchkeeper.logs.config import LogsSection
from watchkeeper.logs.model import LogLine, make_labels
from watchkeeper.logs.pipeline import Processor

PLAIN = "Accepted publickey for deploy from 10.20.30.40 port 52144 ssh2: ED25519 SHA256:x1y2z3"
JSON = (
    '{"time":"2024-05-01T12:00:00.123Z","level":"info","msg":"request done",'
    '"method":"GET","path":"/api/v1/items","status":200,"duration_ms":12.5}'
)
LOGFMT = 'time=2024-05-01T12:00:00Z level=info msg="request done" method=GET status=200 dur=12ms'
NGINX = (
    '192.168.1.20 - - [01/May/2024:12:00:00 +0000] "GET /api/v1/items?page=2 HTTP/1.1" 200 '
    '512 "-" "curl/8.5.0"'
)
FIVE_STAGES = {
    "name": "nginx",
    "match": '{app="nginx"}',
    "stages": [
        {
            "regex": {
                "expression": r'^(?P<ip>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<method>\S+) '
                r'(?P<path>\S+) [^"]*" (?P<status>\d{3}) (?P<bytes>\d+)'
            }
        },
        {"timestamp": {"field": "time", "format": "%d/%b/%Y:%H:%M:%S %z"}},
        {"drop": {"field": "path", "regex": "^/health"}},
        {"rename": {"bytes": "size"}},
        {"labels": ["method"]},
    ],
}
MASKS = ["email", "card_number", "iban", "ipv4", "bearer_token", "password_field"]


def per_line_us(section: LogsSection, message: str, labels: dict[str, str], n: int) -> float:
    processor = Processor(section)
    stream = make_labels(labels)
    runs = []
    for _ in range(5):
        batch = [LogLine(1, 1, stream, message) for _ in range(n)]
        t0 = time.perf_counter()
        processor.process(batch)
        runs.append((time.perf_counter() - t0) / n * 1e6)
    return min(runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=100_000)
    n = parser.parse_args().lines
    plain = LogsSection()
    cases: list[tuple[str, Callable[[], float]]] = [
        ("plain line, no pipeline", lambda: per_line_us(plain, PLAIN, {"app": "sshd"}, n)),
        ("JSON line (7 keys)", lambda: per_line_us(plain, JSON, {"app": "api"}, n)),
        ("logfmt line (6 pairs)", lambda: per_line_us(plain, LOGFMT, {"app": "api"}, n)),
        (
            "plain line, pipeline of another stream",
            lambda: per_line_us(
                LogsSection.model_validate({"pipelines": [FIVE_STAGES]}), PLAIN, {"app": "x"}, n
            ),
        ),
        (
            "nginx line through a 5-stage pipeline",
            lambda: per_line_us(
                LogsSection.model_validate({"pipelines": [FIVE_STAGES]}),
                NGINX,
                {"app": "nginx"},
                n,
            ),
        ),
        (
            "plain line, all 6 global masks",
            lambda: per_line_us(LogsSection(mask=MASKS), PLAIN, {"app": "sshd"}, n),
        ),
        (
            "JSON line, all 6 global masks",
            lambda: per_line_us(LogsSection(mask=MASKS), JSON, {"app": "api"}, n),
        ),
    ]
    print(f"python {platform.python_version()}, {n} lines per run, best of 5")
    for name, run in cases:
        print(f"{name:42s} {run():6.2f} µs/line")


if __name__ == "__main__":
    main()
