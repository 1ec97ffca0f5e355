"""Parsing syslog messages (RFC 5424, RFC 3164 as sent in the wild) into log lines."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from watchkeeper.logs.model import LogLine
from watchkeeper.logs.syslog.parse import SyslogParser

NS = 1_000_000_000


def ns(text: str) -> int:
    """Nanoseconds of an ISO time (UTC unless it says otherwise), to the microsecond."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp()) * NS + moment.microsecond * 1000


RECEIVED = ns("2024-03-10T12:00:00")


def parse(data: bytes, received: int = RECEIVED, peer: str = "192.0.2.7") -> LogLine:
    return SyslogParser().parse(data, received, peer)


def labels(line: LogLine) -> dict[str, str]:
    return dict(line.labels)


# --- RFC 5424 ---------------------------------------------------------------------------------


def test_rfc5424_header_bom_and_fraction() -> None:
    line = parse(
        b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - "
        b"\xef\xbb\xbf'su root' failed for lonvick on /dev/pts/8"
    )
    assert line.ts == ns("2003-10-11T22:14:15.003")
    assert line.received == RECEIVED
    assert labels(line) == {
        "source": "syslog",
        "host": "mymachine.example.com",
        "app": "su",
        "level": "critical",
    }
    assert line.message == "'su root' failed for lonvick on /dev/pts/8"
    assert line.fields == {"facility": "auth", "msgid": "ID47"}


def test_rfc5424_offset_and_microseconds() -> None:
    line = parse(
        b"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - "
        b"%% It's time to make the do-nuts."
    )
    assert line.ts == ns("2003-08-24T12:14:15.000003")
    assert labels(line)["host"] == "192.0.2.1"
    assert labels(line)["level"] == "info"
    assert line.fields == {"facility": "local4", "procid": "8710"}
    assert line.message == "%% It's time to make the do-nuts."


def test_rfc5424_nanosecond_fraction_is_kept() -> None:
    line = parse(b"<14>1 2024-01-15T10:00:00.123456789+00:00 h a - - - m")
    assert line.ts == ns("2024-01-15T10:00:00") + 123_456_789


def test_rfc5424_structured_data_elements_become_fields() -> None:
    line = parse(
        b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
        b'[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"]'
        b'[examplePriority@32473 class="high"] \xef\xbb\xbfAn application event log entry...'
    )
    assert line.fields == {
        "facility": "local4",
        "msgid": "ID47",
        "sd.exampleSDID@32473.iut": "3",
        "sd.exampleSDID@32473.eventSource": "Application",
        "sd.exampleSDID@32473.eventID": "1011",
        "sd.examplePriority@32473.class": "high",
    }
    assert line.message == "An application event log entry..."


def test_rfc5424_structured_data_escapes() -> None:
    line = parse(
        b'<13>1 2024-01-15T10:00:00Z h app - - [x@1 q="say \\"hi\\"" b="a\\]b]" '
        b'p="c:\\\\temp" o="\\n"] the message'
    )
    assert line.fields["sd.x@1.q"] == 'say "hi"'
    assert line.fields["sd.x@1.b"] == "a]b]"
    assert line.fields["sd.x@1.p"] == "c:\\temp"
    assert line.fields["sd.x@1.o"] == "\\n"  # only \" \\ \] are escapes
    assert line.message == "the message"


def test_rfc5424_repeated_parameter_keeps_every_value() -> None:
    line = parse(b'<13>1 - h app - - [origin ip="192.0.2.1" ip="192.0.2.2"] m')
    assert line.fields["sd.origin.ip"] == "192.0.2.1,192.0.2.2"


def test_rfc5424_structured_data_without_message() -> None:
    line = parse(b'<13>1 2024-01-15T10:00:00Z h app - - [a@1 k="v"]')
    assert line.fields["sd.a@1.k"] == "v"
    assert line.message == ""


def test_rfc5424_nil_values() -> None:
    line = parse(b"<13>1 - - - - - - just text")
    assert line.ts == RECEIVED  # no time: the receive time
    assert labels(line) == {"source": "syslog", "host": "192.0.2.7", "level": "info"}
    assert line.fields == {"facility": "user"}
    assert line.message == "just text"


def test_rfc5424_broken_structured_data_stays_in_the_message() -> None:
    line = parse(b'<13>1 2024-01-15T10:00:00Z h app - - [unterminated k="v" and more')
    assert line.message == '[unterminated k="v" and more'
    assert labels(line)["app"] == "app"


def test_rfc5424_unreadable_time_gets_the_receive_time() -> None:
    assert parse(b"<13>1 2024-13-45T99:00:00Z h a - - - m").ts == RECEIVED
    assert parse(b"<13>1 yesterday h a - - - m").ts == RECEIVED


# --- RFC 3164 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "host", "app", "procid", "message"),
    [
        (
            b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick",
            "mymachine",
            "su",
            None,
            "'su root' failed for lonvick",
        ),
        (
            b"<13>Mar  1 22:14:15 web-1 sshd[4242]: Accepted publickey for alice",
            "web-1",
            "sshd",
            "4242",
            "Accepted publickey for alice",
        ),
        (
            b"<13>Mar 1 22:14:15 web-1 postfix/smtpd[77]: connect from unknown",
            "web-1",
            "postfix/smtpd",
            "77",
            "connect from unknown",
        ),
        # no host (what programs write to /dev/log): the sender's address is the host
        (b"<30>Mar  1 22:14:15 CRON[12]: (root) CMD (run)", "192.0.2.7", "CRON", "12", None),
        (b"<13>Mar  1 22:14:15 kernel: usb 1-1: new device", "192.0.2.7", "kernel", None, None),
        # no tag
        (b"<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!", "10.0.0.99", None, None, "Use the BFG!"),
        # no PRI
        (b"Mar  1 22:14:15 db-1 postgres[9]: checkpoint", "db-1", "postgres", "9", "checkpoint"),
    ],
)
def test_rfc3164_variants(
    data: bytes, host: str, app: str | None, procid: str | None, message: str | None
) -> None:
    line = parse(data)
    assert labels(line)["host"] == host
    assert labels(line).get("app") == app
    assert line.fields.get("procid") == procid
    if message is not None:
        assert line.message == message


def test_rfc3164_time_is_utc_of_this_year() -> None:
    line = parse(b"<13>Mar  1 22:14:15 h app: m")
    assert line.ts == ns("2024-03-01T22:14:15")


def test_rfc3164_fractional_seconds() -> None:
    assert parse(b"<13>Mar  1 22:14:15.250 h app: m").ts == ns("2024-03-01T22:14:15.25")


def test_december_line_received_in_january_is_last_year() -> None:
    line = parse(b"<13>Dec 31 23:59:58 h app: m", received=ns("2025-01-01T00:00:02"))
    assert line.ts == ns("2024-12-31T23:59:58")


def test_january_line_from_a_fast_clock_on_new_years_eve_is_next_year() -> None:
    line = parse(b"<13>Jan  1 00:00:05 h app: m", received=ns("2024-12-31T23:59:58"))
    assert line.ts == ns("2025-01-01T00:00:05")


def test_cached_stamps_follow_the_receive_time() -> None:
    parser = SyslogParser()
    data = b"<13>Dec 31 23:59:58 h app: m"
    assert parser.parse(data, ns("2024-12-31T23:59:59")).ts == ns("2024-12-31T23:59:58")
    assert parser.parse(data, ns("2026-01-02T00:00:00")).ts == ns("2025-12-31T23:59:58")


def test_leap_day_is_read_in_a_leap_year() -> None:
    line = parse(b"<13>Feb 29 10:00:00 h app: m", received=ns("2024-03-10T00:00:00"))
    assert line.ts == ns("2024-02-29T10:00:00")


def test_rfc3164_with_rsyslog_iso_time() -> None:
    line = parse(b"<30>2024-01-15T10:00:00.123456+01:00 web-1 nginx[99]: GET / 200")
    assert line.ts == ns("2024-01-15T09:00:00.123456")
    assert labels(line) == {"source": "syslog", "host": "web-1", "app": "nginx", "level": "info"}
    assert line.fields == {"facility": "daemon", "procid": "99"}
    assert line.message == "GET / 200"


def test_rfc3164_without_time_is_all_message_and_gets_the_receive_time() -> None:
    line = parse(b"<11>something odd happened")
    assert line.ts == RECEIVED
    assert line.message == "something odd happened"
    assert labels(line)["level"] == "error"
    assert labels(line)["host"] == "192.0.2.7"


def test_tag_without_time_is_kept() -> None:
    line = parse(b"<13>myapp[7]: started")
    assert labels(line)["app"] == "myapp"
    assert line.message == "started"


def test_invalid_date_gets_the_receive_time() -> None:
    assert parse(b"<13>Feb 30 10:00:00 h app: m").ts == RECEIVED


def test_trailing_newline_and_nul_are_stripped() -> None:
    assert parse(b"<13>Mar  1 22:14:15 h app: m\r\n").message == "m"
    assert parse(b"<13>1 - h a - - - m\n\x00").message == "m"


# --- labels and fields ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("severity", "level"),
    [
        (0, "critical"),
        (1, "critical"),
        (2, "critical"),
        (3, "error"),
        (4, "warn"),
        (5, "info"),
        (6, "info"),
        (7, "debug"),
    ],
)
def test_severity_becomes_level(severity: int, level: str) -> None:
    pri = 8 * 3 + severity  # daemon
    assert labels(parse(b"<%d>Mar  1 22:14:15 h app: m" % pri))["level"] == level
    assert labels(parse(b"<%d>1 - h app - - - m" % pri))["level"] == level


@pytest.mark.parametrize(
    ("facility", "name"),
    [(0, "kern"), (4, "auth"), (9, "cron"), (10, "authpriv"), (16, "local0"), (23, "local7")],
)
def test_facility_name_is_a_field(facility: int, name: str) -> None:
    assert parse(b"<%d>Mar  1 22:14:15 h app: m" % (facility * 8 + 6)).fields["facility"] == name


def test_no_pri_is_user_notice() -> None:
    line = parse(b"Mar  1 22:14:15 h app: m")
    assert line.fields["facility"] == "user"
    assert labels(line)["level"] == "info"


def test_out_of_range_pri_is_user_notice() -> None:
    line = parse(b"<999>Mar  1 22:14:15 h app: m")
    assert line.fields["facility"] == "user"
    assert line.message == "m"


def test_configured_labels_are_added_and_win() -> None:
    parser = SyslogParser({"env": "prod", "host": "gateway"})
    line = parser.parse(b"<13>Mar  1 22:14:15 web-1 app: m", RECEIVED)
    assert labels(line) == {
        "source": "syslog",
        "host": "gateway",
        "app": "app",
        "level": "info",
        "env": "prod",
    }


def test_long_label_values_are_cut() -> None:
    line = parse(b"<13>1 - " + b"h" * 1000 + b" app - - - m")
    assert len(labels(line)["host"]) == 256


# --- bad input --------------------------------------------------------------------------------


def test_invalid_utf8_is_replaced_and_counted() -> None:
    parser = SyslogParser()
    lines, repaired = parser.parse_many(
        [b"<13>Mar  1 22:14:15 h app: caf\xe9 \xff", b"<13>Mar  1 22:14:15 h app: ok"],
        RECEIVED,
    )
    assert lines[0].message == "caf\ufffd \ufffd"
    assert lines[1].message == "ok"
    assert repaired == 1


def test_empty_message() -> None:
    line = parse(b"")
    assert line.message == ""
    assert line.ts == RECEIVED


VALID = [
    b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \xef\xbb\xbfmsg",
    b'<165>1 2003-10-11T22:14:15.003Z h evntslog - ID47 [a@1 x="1\\"2" y="]"][b@2 z="3"] m',
    b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed",
    b"<30>2024-01-15T10:00:00.123456+01:00 web-1 nginx[99]: GET /",
    b"Oct 11 22:14:15 myhost sshd[123]: Accepted password",
]


def test_fuzz_never_raises() -> None:
    """Random bytes and mutated valid messages always give a line; the parser's own paths
    (not its last-resort net) handle them."""
    rng = random.Random(7)
    parser = SyslogParser()
    alphabet = b'<>[]"\\= :-.T+Z0123456789abcJanOct\n\x00\xff\xef\xbb\xbf'
    samples: list[bytes] = []
    for _ in range(3000):
        samples.append(rng.randbytes(rng.randrange(0, 200)))
        samples.append(bytes(rng.choice(alphabet) for _ in range(rng.randrange(0, 80))))
        base = bytearray(rng.choice(VALID))
        for _ in range(rng.randrange(1, 6)):
            base[rng.randrange(len(base))] = rng.choice(alphabet)
        cut = rng.randrange(len(base) + 1)
        samples.append(bytes(base[:cut]))
    for data in samples:
        text = data.decode(errors="replace")
        if text.find(">1 ", 2, 7) > 0:
            parser._rfc5424(text, RECEIVED, "p")
        line = parser._rfc3164(text, RECEIVED, "p")
        assert isinstance(line.message, str)
        assert isinstance(line.ts, int)
        assert all(isinstance(v, str) for v in line.fields.values())
        assert parser.parse(data, RECEIVED, "p").received == RECEIVED
