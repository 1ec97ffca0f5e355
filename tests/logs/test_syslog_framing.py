"""Splitting syslog TCP streams into messages (RFC 6587), damaged frames included."""

from __future__ import annotations

import random

import pytest

from watchkeeper.logs.syslog.framing import Framer, cut_utf8


def counted(message: bytes) -> bytes:
    return b"%d %s" % (len(message), message)


def frames_of(stream: bytes, max_bytes: int = 1000, chunk: int | None = None) -> list[bytes]:
    framer = Framer(max_bytes)
    out: list[bytes] = []
    step = chunk or len(stream) or 1
    for start in range(0, len(stream), step):
        out.extend(framer.feed(stream[start : start + step]))
    return out + framer.finish()


def test_newline_framing_lf_crlf_and_nul() -> None:
    stream = b"<13>one\n<13>two\r\n<13>three\x00<13>four\n"
    assert frames_of(stream) == [b"<13>one", b"<13>two\r", b"<13>three", b"<13>four"]


def test_octet_counting() -> None:
    stream = counted(b"<13>one") + counted(b"<13>two with\nnewline") + counted(b"<13>3")
    assert frames_of(stream) == [b"<13>one", b"<13>two with\nnewline", b"<13>3"]


def test_framing_is_detected_per_frame() -> None:
    stream = counted(b"<13>a") + b"\n<13>b\n" + counted(b"<13>c") + b"<13>d\n"
    assert frames_of(stream) == [b"<13>a", b"<13>b", b"<13>c", b"<13>d"]


def test_lines_starting_with_digits_are_lines() -> None:
    stream = b"2024-01-15T10:00:00Z h app: one\n2024-01-15T10:00:01Z h app: two\n"
    assert frames_of(stream) == [
        b"2024-01-15T10:00:00Z h app: one",
        b"2024-01-15T10:00:01Z h app: two",
    ]


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64])
def test_any_split_of_the_stream_gives_the_same_frames(chunk: int) -> None:
    stream = (
        counted(b"<13>first")
        + b"<13>line\n"
        + b"2024-01-15T10:00:00Z h a: x\n"
        + counted(b"<13>\xc3\xa9t\xc3\xa9")
        + b"\n"
        + counted(b"<13>" + b"y" * 300)
        + b"<13>last"
    )
    expected = frames_of(stream)
    assert expected == [
        b"<13>first",
        b"<13>line",
        b"2024-01-15T10:00:00Z h a: x",
        b"<13>\xc3\xa9t\xc3\xa9",
        b"<13>" + b"y" * 300,
        b"<13>last",
    ]
    assert frames_of(stream, chunk=chunk) == expected


def test_random_splits_agree() -> None:
    rng = random.Random(3)
    parts = []
    for i in range(200):
        message = b"<13>message %d " % i + b"z" * rng.randrange(0, 50)
        parts.append(counted(message) if rng.random() < 0.5 else message + b"\n")
    stream = b"".join(parts)
    expected = frames_of(stream)
    assert len(expected) == 200
    framer = Framer(1000)
    got: list[bytes] = []
    pos = 0
    while pos < len(stream):
        step = rng.randrange(1, 40)
        got.extend(framer.feed(stream[pos : pos + step]))
        pos += step
    assert got + framer.finish() == expected


def test_oversized_line_is_cut_and_the_rest_skipped() -> None:
    framer = Framer(10)
    out = framer.feed(b"<13>" + b"x" * 30)
    out += framer.feed(b"y" * 30)
    out += framer.feed(b"z" * 5 + b"\n<13>next\n")
    assert out == [b"<13>xxxxxx", b"<13>next"]
    assert framer.truncated == 1
    assert framer.rejected == 0


def test_oversized_complete_lines_are_cut() -> None:
    framer = Framer(10)
    assert framer.feed(b"<13>short\n<13>" + b"x" * 30 + b"\n<13>ok\n") == [
        b"<13>short",
        b"<13>xxxxxx",
        b"<13>ok",
    ]
    assert framer.truncated == 1


def test_oversized_counted_frame_is_cut_and_the_rest_skipped() -> None:
    framer = Framer(10)
    big = counted(b"<13>" + b"x" * 50)
    out = framer.feed(big[:20])
    out += framer.feed(big[20:40])
    out += framer.feed(big[40:] + counted(b"<13>next"))
    assert out == [b"<13>xxxxxx", b"<13>next"]
    assert framer.truncated == 1


def test_cut_does_not_split_a_character() -> None:
    assert cut_utf8("aé€".encode(), 4) == "aé".encode()
    assert cut_utf8("aé€".encode(), 5) == "aé".encode()
    assert cut_utf8("aé€".encode(), 6) == "aé€".encode()
    assert cut_utf8(b"\x80\x80\x80\x80\x80\x80", 4) == b"\x80"  # not UTF-8: cut anyway


def test_non_numeric_count_is_rejected_and_the_rest_survives() -> None:
    stream = counted(b"<13>one") + b"1x2 <13>broken" + counted(b"<13>two") + counted(b"<13>3")
    framer = Framer(1000)
    assert framer.feed(stream) + framer.finish() == [b"<13>one", b"<13>two", b"<13>3"]
    assert framer.rejected == 1


def test_non_numeric_count_on_the_first_frame() -> None:
    framer = Framer(1000)
    out = framer.feed(b"12a <13>broken\n<13>fine\n")
    assert out == [b"<13>fine"]
    assert framer.rejected == 1


def test_a_count_too_short_costs_only_the_frames_it_hits() -> None:
    # says 5, is 9: "YZZY" is no frame; the next frame is found again
    stream = counted(b"<13>a") + b"5 <13>XYZZY" + counted(b"<13>b") + counted(b"<13>c")
    framer = Framer(1000)
    assert framer.feed(stream) + framer.finish() == [b"<13>a", b"<13>X", b"<13>b", b"<13>c"]
    assert framer.rejected == 1


def test_a_count_too_long_costs_only_the_frames_it_hits() -> None:
    # says 10, is 5: it swallows half of the next frame, whose rest is no frame
    stream = counted(b"<13>a") + b"10 <13>x" + counted(b"<13>b") + counted(b"<13>c")
    framer = Framer(1000)
    assert framer.feed(stream) + framer.finish() == [b"<13>a", b"<13>x5 <13", b"<13>c"]
    assert framer.rejected == 1


@pytest.mark.parametrize("count", [b"0", b"99999999999"])
def test_absurd_count_is_rejected(count: bytes) -> None:
    framer = Framer(1000)
    out = framer.feed(count + b" <13>x" + counted(b"<13>ok"))
    assert out + framer.finish() == [b"<13>ok"]
    assert framer.rejected == 1


def test_frame_cut_short_by_the_end_of_the_connection_is_rejected() -> None:
    framer = Framer(1000)
    assert framer.feed(counted(b"<13>whole") + b"100 <13>only part") == [b"<13>whole"]
    assert framer.finish() == []
    assert framer.rejected == 1


def test_truncated_count_at_the_end_is_rejected() -> None:
    framer = Framer(1000)
    assert framer.feed(counted(b"<13>whole") + b"12") == [b"<13>whole"]
    assert framer.finish() == []
    assert framer.rejected == 1


def test_last_line_without_newline_is_kept() -> None:
    framer = Framer(1000)
    assert framer.feed(b"<13>a\n<13>b") == [b"<13>a"]
    assert framer.finish() == [b"<13>b"]


def test_hopeless_stream_fails_after_the_frames_before_it() -> None:
    framer = Framer(100)
    junk = b"\x16\x03\x01" + bytes(range(14, 255)) * 2  # no LF, no NUL, no count
    assert framer.feed(counted(b"<13>ok") + junk) == [b"<13>ok"]
    assert framer.failure is not None
    assert framer.failure.startswith("no syslog frame found in 485 bytes")
    assert framer.feed(counted(b"<13>too late")) == []
    assert framer.finish() == []
    assert framer.rejected == 1
