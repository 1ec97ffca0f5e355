"""Measure the candidate log stores for issue 7 on this machine, and print the figures.

Candidates (the issue asks to choose by measurement; SQLite FTS5 was measured before at
37–56k rows/s and 2.4–4.4 × raw size, too slow and too big):

* ``tantivy`` — the Python binding of the search library under Quickwit, one document per
  line: an inverted index with the message stored and host/app/level as raw terms;
* ``hybrid`` — tantivy indexing each line without positions or text, the text in zstd chunks;
* ``chunks`` — the Loki approach written here: lines grouped per stream (host, app) into
  zstd-compressed chunks, each with a set of 32-bit token hashes, so a rare-term search opens
  only the chunks that may hold the term;
* ``chunk-index`` — the same chunks, with tantivy indexing each chunk as one document;
* ``duckdb`` — a columnar table (time, host, app, level, message) with its own compression,
  searched by scanning (its FTS extension needs a download, which this machine cannot do).

For each: ingest N syslog-like lines (~120 bytes; parsing not included, the same for all),
bytes stored per raw byte, a rare-term search, a common-term count, a field-filtered count
over a time range, and a regex search. Needs ``pip install -e '.[logs-bench]'``.

    .venv/bin/python bench/logs_storage.py --lines 1000000
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import shutil
import statistics
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

RARE = "zebra7f3a"
HOSTS = [f"web-{i:02d}" for i in range(40)] + [f"db-{i}" for i in range(10)]
APPS = ["nginx", "api", "worker", "cron", "sshd", "postgres", "redis", "billing"]
LEVELS = ["info"] * 80 + ["warn"] * 12 + ["error"] * 6 + ["debug"] * 2
TEMPLATES = [
    "GET /api/v1/orders/{n} 200 {ms}ms user={u}",
    "POST /api/v1/cart/{n}/items 201 {ms}ms user={u}",
    "connection from 10.0.{a}.{b} port {p} accepted",
    "job {n} finished in {ms} ms, {k} rows written",
    "checkpoint complete: wrote {k} buffers ({ms} ms)",
    "cache miss for key session:{n} (ttl {k}s)",
    "timeout talking to upstream payments after {ms} ms, retry {k}",
    "user {u} logged in from 192.168.{a}.{b}",
]
USERS = [f"user{i}" for i in range(500)]


def lines(count: int, start: float, seed: int = 7) -> Iterator[tuple[float, str, str, str, str]]:
    """(timestamp, host, app, level, message) over 24 h, with RARE in three lines."""
    rnd = random.Random(seed)
    rare_at = {count // 7, count // 2, count - 3}
    step = 86400 / count
    for i in range(count):
        message = (
            rnd.choice(TEMPLATES).format(
                n=rnd.randrange(10**6),
                ms=rnd.randrange(2000),
                u=rnd.choice(USERS),
                a=rnd.randrange(256),
                b=rnd.randrange(256),
                p=rnd.randrange(1024, 65536),
                k=rnd.randrange(10**4),
            )
            + f" req={rnd.getrandbits(48):012x}"
        )
        if i in rare_at:
            message += f" trace={RARE}"
        yield start + i * step, rnd.choice(HOSTS), rnd.choice(APPS), rnd.choice(LEVELS), message


def raw_size(ts: float, host: str, app: str, level: str, message: str) -> int:
    # as an RFC 3164 line: "<34>Dec  4 22:43:03 host app[12345]: level=info message\n"
    return 4 + 16 + len(host) + len(app) + 10 + 6 + len(level) + len(message) + 1


def dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def timed(fn: Callable[[], Any], runs: int = 5) -> tuple[float, Any]:
    """Median seconds of ``runs`` calls, and the last result."""
    times, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


# -- tantivy -------------------------------------------------------------------------------


def bench_tantivy(data: list[tuple[float, str, str, str, str]], where: Path) -> dict[str, Any]:
    import tantivy

    sb = tantivy.SchemaBuilder()
    sb.add_integer_field("ts", stored=True, indexed=True, fast=True)
    for name in ("host", "app", "level"):
        sb.add_text_field(name, stored=True, tokenizer_name="raw", index_option="basic")
    sb.add_text_field("message", stored=True, index_option="position")
    schema = sb.build()
    index = tantivy.Index(schema, path=str(where))
    t0 = time.perf_counter()
    writer = index.writer(heap_size=512_000_000, num_threads=2)
    for ts, host, app, level, message in data:
        writer.add_document(
            tantivy.Document(ts=int(ts * 1000), host=host, app=app, level=level, message=message)
        )
    writer.commit()
    writer.wait_merging_threads()
    ingest = time.perf_counter() - t0
    index.reload()
    searcher = index.searcher()
    t_lo = int(data[len(data) // 3][0] * 1000)
    t_hi = int(data[2 * len(data) // 3][0] * 1000)

    def rare() -> int:
        q = index.parse_query(RARE, ["message"])
        return len(searcher.search(q, 100).hits)

    def common() -> int:
        return int(searcher.search(index.parse_query("timeout", ["message"]), 1, count=True).count)

    def field_filtered() -> int:
        q = index.parse_query(f"level:error AND app:api AND ts:[{t_lo} TO {t_hi}]", ["message"])
        return int(searcher.search(q, 1, count=True).count)

    def regex() -> int:
        q = tantivy.Query.regex_query(schema, "message", "upstr.*")
        return int(searcher.search(q, 1, count=True).count)

    return _searches(
        "tantivy", len(data), ingest, dir_size(where), rare, common, field_filtered, regex
    )


# -- zstd chunks per stream with a token filter ------------------------------------------------

_TOKEN = re.compile(r"[A-Za-z0-9_]+")


def bench_chunks(data: list[tuple[float, str, str, str, str]], where: Path) -> dict[str, Any]:
    import zstandard

    chunk_lines = 4096
    cctx = zstandard.ZstdCompressor(level=3)
    t0 = time.perf_counter()
    open_chunks: dict[tuple[str, str], list[tuple[float, str, str]]] = {}
    chunks: list[dict[str, Any]] = []
    stored = 0

    def close(key: tuple[str, str], rows: list[tuple[float, str, str]]) -> None:
        nonlocal stored
        text = "\n".join(f"{ts:.3f}\t{level}\t{msg}" for ts, level, msg in rows).encode()
        blob = cctx.compress(text)
        tokens = {zlib.crc32(t.lower().encode()) for _, _, m in rows for t in _TOKEN.findall(m)}
        filt = cctx.compress(b"".join(sorted(tok.to_bytes(4, "little") for tok in tokens)))
        chunks.append(
            {
                "stream": key,
                "from": rows[0][0],
                "to": rows[-1][0],
                "blob": blob,
                "tokens": tokens,
                "levels": {lv for _, lv, _ in rows},
            }
        )
        stored += len(blob) + len(filt) + 64

    for ts, host, app, level, message in data:
        key = (host, app)
        rows = open_chunks.setdefault(key, [])
        rows.append((ts, level, message))
        if len(rows) >= chunk_lines:
            close(key, rows)
            open_chunks[key] = []
    for key, rows in open_chunks.items():
        if rows:
            close(key, rows)
    ingest = time.perf_counter() - t0
    dctx = zstandard.ZstdDecompressor()
    t_lo, t_hi = data[len(data) // 3][0], data[2 * len(data) // 3][0]

    def grep(pred: Callable[[bytes], bool], pick: Callable[[dict[str, Any]], bool]) -> int:
        found = 0
        for c in chunks:
            if pick(c):
                found += sum(1 for line in dctx.decompress(c["blob"]).split(b"\n") if pred(line))
        return found

    rare_hash = zlib.crc32(RARE.encode())
    common_hash = zlib.crc32(b"timeout")
    rx = re.compile(rb"upstr.*")

    def rare() -> int:
        return grep(lambda line: RARE.encode() in line, lambda c: rare_hash in c["tokens"])

    def common() -> int:
        return grep(lambda line: b"timeout" in line, lambda c: common_hash in c["tokens"])

    def field_filtered() -> int:
        def pred(line: bytes) -> bool:
            ts, level, _ = line.split(b"\t", 2)
            return level == b"error" and t_lo <= float(ts) <= t_hi

        return grep(
            pred,
            lambda c: (
                c["stream"][1] == "api"
                and "error" in c["levels"]
                and c["to"] >= t_lo
                and c["from"] <= t_hi
            ),
        )

    def regex() -> int:
        return grep(lambda line: rx.search(line) is not None, lambda c: True)

    return _searches("zstd chunks", len(data), ingest, stored, rare, common, field_filtered, regex)


# -- tantivy for the index, zstd chunks for the text ------------------------------------------


def bench_hybrid(data: list[tuple[float, str, str, str, str]], where: Path) -> dict[str, Any]:
    """Lines kept only in zstd chunks (per stream, 4,096 lines); tantivy keeps an index of
    their terms without positions or stored text, and each line's chunk and row."""
    import tantivy
    import zstandard

    sb = tantivy.SchemaBuilder()
    sb.add_integer_field("ts", indexed=True, fast=True)
    sb.add_integer_field("chunk", stored=True, fast=True)
    sb.add_integer_field("row", stored=True, fast=True)
    for name in ("host", "app", "level"):
        sb.add_text_field(name, tokenizer_name="raw", index_option="basic")
    sb.add_text_field("message", index_option="basic")
    schema = sb.build()
    (where / "index").mkdir()
    index = tantivy.Index(schema, path=str(where / "index"))
    cctx = zstandard.ZstdCompressor(level=3)
    blobs: list[bytes] = []
    open_chunks: dict[tuple[str, str], tuple[int, list[str]]] = {}
    t0 = time.perf_counter()
    writer = index.writer(heap_size=512_000_000, num_threads=2)
    for ts, host, app, level, message in data:
        key = (host, app)
        if key not in open_chunks:
            blobs.append(b"")
            open_chunks[key] = (len(blobs) - 1, [])
        chunk_id, rows = open_chunks[key]
        writer.add_document(
            tantivy.Document(
                ts=int(ts * 1000),
                chunk=chunk_id,
                row=len(rows),
                host=host,
                app=app,
                level=level,
                message=message,
            )
        )
        rows.append(f"{ts:.3f}\t{level}\t{message}")
        if len(rows) >= 4096:
            blobs[chunk_id] = cctx.compress("\n".join(rows).encode())
            del open_chunks[key]
    for chunk_id, rows in open_chunks.values():
        blobs[chunk_id] = cctx.compress("\n".join(rows).encode())
    writer.commit()
    writer.wait_merging_threads()
    ingest = time.perf_counter() - t0
    index.reload()
    searcher = index.searcher()
    dctx = zstandard.ZstdDecompressor()
    t_lo = int(data[len(data) // 3][0] * 1000)
    t_hi = int(data[2 * len(data) // 3][0] * 1000)

    def rare() -> int:  # find, then read the lines themselves from their chunks
        hits = searcher.search(index.parse_query(RARE, ["message"]), 100).hits
        found = 0
        for _, address in hits:
            doc = searcher.doc(address)
            text = dctx.decompress(blobs[doc["chunk"][0]]).split(b"\n")[doc["row"][0]]
            found += RARE.encode() in text
        return found

    def count(query: str) -> int:
        return int(searcher.search(index.parse_query(query, ["message"]), 1, count=True).count)

    size = dir_size(where) + sum(len(b) for b in blobs)
    return _searches(
        "tantivy index + zstd chunks",
        len(data),
        ingest,
        size,
        rare,
        lambda: count("timeout"),
        lambda: count(f"level:error AND app:api AND ts:[{t_lo} TO {t_hi}]"),
        lambda: int(
            searcher.search(
                tantivy.Query.regex_query(schema, "message", "upstr.*"), 1, count=True
            ).count
        ),
    )


def bench_chunk_index(data: list[tuple[float, str, str, str, str]], where: Path) -> dict[str, Any]:
    """zstd chunks per stream, and tantivy indexing each chunk as one document (its terms,
    stream labels, levels and time span): the index names chunks, not lines."""
    import tantivy
    import zstandard

    sb = tantivy.SchemaBuilder()
    sb.add_integer_field("chunk", stored=True)
    sb.add_integer_field("t_from", indexed=True, fast=True)
    sb.add_integer_field("t_to", indexed=True, fast=True)
    for name in ("host", "app", "level"):
        sb.add_text_field(name, tokenizer_name="raw", index_option="basic")
    sb.add_text_field("message", index_option="basic")
    schema = sb.build()
    index = tantivy.Index(schema, path=str(where))
    cctx = zstandard.ZstdCompressor(level=3)
    blobs: list[tuple[tuple[str, str], bytes]] = []
    open_chunks: dict[tuple[str, str], list[tuple[float, str, str]]] = {}
    t0 = time.perf_counter()
    writer = index.writer(heap_size=512_000_000, num_threads=2)

    def close(key: tuple[str, str], rows: list[tuple[float, str, str]]) -> None:
        text = "\n".join(f"{ts:.3f}\t{lv}\t{m}" for ts, lv, m in rows)
        blobs.append((key, cctx.compress(text.encode())))
        writer.add_document(
            tantivy.Document(
                chunk=len(blobs) - 1,
                t_from=int(rows[0][0] * 1000),
                t_to=int(rows[-1][0] * 1000),
                host=key[0],
                app=key[1],
                level=sorted({lv for _, lv, _ in rows}),
                message=" ".join(m for _, _, m in rows),
            )
        )

    for ts, host, app, level, message in data:
        rows = open_chunks.setdefault((host, app), [])
        rows.append((ts, level, message))
        if len(rows) >= 4096:
            close((host, app), rows)
            open_chunks[(host, app)] = []
    for key, rows in open_chunks.items():
        if rows:
            close(key, rows)
    writer.commit()
    writer.wait_merging_threads()
    ingest = time.perf_counter() - t0
    index.reload()
    searcher = index.searcher()
    dctx = zstandard.ZstdDecompressor()
    t_lo, t_hi = data[len(data) // 3][0], data[2 * len(data) // 3][0]

    def grep(query: str, pred: Callable[[bytes], bool]) -> int:
        hits = searcher.search(index.parse_query(query, ["message"]), 100_000).hits
        found = 0
        for _, address in hits:
            chunk = searcher.doc(address)["chunk"][0]
            found += sum(1 for line in dctx.decompress(blobs[chunk][1]).split(b"\n") if pred(line))
        return found

    def filtered(line: bytes) -> bool:
        ts, level, _ = line.split(b"\t", 2)
        return level == b"error" and t_lo <= float(ts) <= t_hi

    lo, hi = int(t_lo * 1000), int(t_hi * 1000)
    rx = re.compile(rb"upstr.*")
    size = dir_size(where) + sum(len(b) for _, b in blobs)
    return _searches(
        "zstd chunks + tantivy chunk index",
        len(data),
        ingest,
        size,
        lambda: grep(RARE, lambda line: RARE.encode() in line),
        lambda: grep("timeout", lambda line: b"timeout" in line),
        lambda: grep(
            f"level:error AND app:api AND t_to:[{lo} TO *] AND t_from:[* TO {hi}]", filtered
        ),
        lambda: grep("*", lambda line: rx.search(line) is not None),
    )


# -- DuckDB --------------------------------------------------------------------------------


def bench_duckdb(data: list[tuple[float, str, str, str, str]], where: Path) -> dict[str, Any]:
    import duckdb

    db_file = where / "logs.duckdb"
    con = duckdb.connect(str(db_file))
    con.execute(
        "CREATE TABLE logs (ts DOUBLE, host VARCHAR, app VARCHAR, level VARCHAR, message VARCHAR)"
    )
    t0 = time.perf_counter()
    tsv = where / "batch.tsv"
    with tsv.open("w") as out:  # DuckDB's fastest path from Python without pyarrow/pandas
        for row in data:
            out.write("\t".join(str(v) for v in row) + "\n")
    con.execute(f"COPY logs FROM '{tsv}' (DELIMITER '\t', HEADER false, QUOTE '', ESCAPE '')")
    con.execute("CHECKPOINT")
    ingest = time.perf_counter() - t0
    tsv.unlink()
    size = dir_size(where)
    t_lo, t_hi = data[len(data) // 3][0], data[2 * len(data) // 3][0]

    def one(sql: str, *args: Any) -> int:
        return int(con.execute(sql, list(args)).fetchone()[0])  # type: ignore[index]

    return _searches(
        "duckdb",
        len(data),
        ingest,
        size,
        lambda: one("SELECT count(*) FROM logs WHERE contains(message, ?)", RARE),
        lambda: one("SELECT count(*) FROM logs WHERE contains(message, 'timeout')"),
        lambda: one(
            "SELECT count(*) FROM logs WHERE level = 'error' AND app = 'api' "
            "AND ts BETWEEN ? AND ?",
            t_lo,
            t_hi,
        ),
        lambda: one("SELECT count(*) FROM logs WHERE regexp_matches(message, 'upstr.*')"),
    )


# -- common ----------------------------------------------------------------------------------

RAW_BYTES = 0


def _searches(
    name: str, count: int, ingest: float, size: int, *queries: Callable[[], int]
) -> dict[str, Any]:
    labels = ("rare term", "common term count", "field filter + time range count", "regex count")
    out: dict[str, Any] = {
        "engine": name,
        "lines/s": count / ingest,
        "size/raw": size / RAW_BYTES,
    }
    for label, query in zip(labels, queries, strict=True):
        seconds, found = timed(query)
        out[label] = (seconds * 1000, found)
    return out


def main() -> None:
    global RAW_BYTES
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument(
        "--only", choices=["tantivy", "hybrid", "chunks", "chunk-index", "duckdb"], action="append"
    )
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}"
    )
    t0 = time.perf_counter()
    data = list(lines(args.lines, time.time() - 86400))
    RAW_BYTES = sum(raw_size(*row) for row in data)
    print(
        f"{args.lines:,} lines, {RAW_BYTES / args.lines:.0f} bytes each as raw syslog "
        f"({RAW_BYTES / 1e6:.0f} MB), generated in {time.perf_counter() - t0:.1f} s"
    )
    benches = {
        "tantivy": bench_tantivy,
        "hybrid": bench_hybrid,
        "chunks": bench_chunks,
        "chunk-index": bench_chunk_index,
        "duckdb": bench_duckdb,
    }
    for name, bench in benches.items():
        if args.only and name not in args.only:
            continue
        where = Path(tempfile.mkdtemp(prefix=f"wk-logs-{name}-"))
        try:
            result = bench(data, where)
        finally:
            shutil.rmtree(where, ignore_errors=True)
        print(
            f"\n{result['engine']}: ingest {result['lines/s']:,.0f} lines/s, "
            f"stored {result['size/raw']:.2f} × raw"
        )
        for key, value in result.items():
            if isinstance(value, tuple):
                print(f"  {key:32s} {value[0]:9.1f} ms  ({value[1]:,} lines)")


if __name__ == "__main__":
    main()
