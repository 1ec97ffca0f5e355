"""Grouping: the same bug from two releases is one issue, two bugs are two."""

from __future__ import annotations

from tests.errors.support import exception_event
from watchkeeper.errors.grouping import group, normalise_message


def test_same_bug_from_two_releases_has_one_fingerprint() -> None:
    old = exception_event(release="1.4.2", frames=[("shop.views", "checkout", 10)])
    new = exception_event(
        release="1.5.0", value="other text", frames=[("shop.views", "checkout", 57)]
    )
    assert group(old).fingerprint == group(new).fingerprint
    assert group(old).kind == "exception"


def test_two_bugs_have_two_fingerprints() -> None:
    first = exception_event("KeyError", frames=[("shop.views", "checkout", 10)])
    other_type = exception_event("TypeError", frames=[("shop.views", "checkout", 10)])
    other_place = exception_event("KeyError", frames=[("shop.views", "refund", 10)])
    prints = {group(e).fingerprint for e in (first, other_type, other_place)}
    assert len(prints) == 3


def test_only_in_app_frames_count_when_there_are_some() -> None:
    base = exception_event(frames=[("shop.views", "checkout", 10)])
    framework = exception_event(frames=[("shop.views", "checkout", 10)])
    frames = framework["exception"]["values"][0]["stacktrace"]["frames"]
    frames.insert(0, {"module": "django.core", "function": "dispatch", "in_app": False})
    assert group(base).fingerprint == group(framework).fingerprint


def test_all_frames_count_when_none_is_in_app() -> None:
    a = exception_event(frames=[("lib.a", "run", 1)])
    b = exception_event(frames=[("lib.b", "run", 1)])
    for event in (a, b):
        for frame in event["exception"]["values"][0]["stacktrace"]["frames"]:
            frame["in_app"] = False
    assert group(a).fingerprint != group(b).fingerprint


def test_javascript_bundle_hashes_and_query_strings_do_not_split_issues() -> None:
    def js(filename: str) -> dict[str, object]:
        return {
            "exception": {
                "values": [
                    {
                        "type": "TypeError",
                        "value": "x is undefined",
                        "stacktrace": {"frames": [{"filename": filename, "function": "pay"}]},
                    }
                ]
            }
        }

    one = group(js("https://shop.example/static/js/main.3f9a2b1c.js?v=1"))
    two = group(js("https://cdn.example/assets/main.77aa00ff.js"))
    assert one.fingerprint == two.fingerprint


def test_messages_are_normalised() -> None:
    assert (
        normalise_message(
            "User 1234 'bob' not found at 10.0.0.1:5432 "
            "(550e8400-e29b-41d4-a716-446655440000, deadbeef12, a@b.example)"
        )
        == "User <num> <value> not found at <ip> (<uuid>, <hex>, <email>)"
    )
    a = group({"message": "order 17 failed for user 'ann'"})
    b = group({"message": "order 99 failed for user 'bob'"})
    c = group({"message": "refund 17 failed for user 'ann'"})
    assert a.fingerprint == b.fingerprint != c.fingerprint
    assert a.kind == "message" and a.title == "order 17 failed for user 'ann'"


def test_log_template_groups_before_its_parameters() -> None:
    a = group({"logentry": {"message": "payment %s declined", "params": ["A1"]}})
    b = group({"logentry": {"message": "payment %s declined", "params": ["B2"]}})
    assert a.fingerprint == b.fingerprint
    assert a.title == "payment A1 declined"


def test_sdk_fingerprint_with_default() -> None:
    event = exception_event()
    default = group(event).fingerprint
    assert group({**event, "fingerprint": ["{{ default }}"]}).fingerprint == default
    split = group({**event, "fingerprint": ["{{ default }}", "tenant-a"]})
    assert split.kind == "sdk" and split.fingerprint != default
    assert (
        split.fingerprint
        == group({**event, "fingerprint": ["{{default}}", "tenant-a"]}).fingerprint
    )
    forced_a = group({**exception_event("KeyError"), "fingerprint": ["db-down"]})
    forced_b = group({**exception_event("TypeError"), "fingerprint": ["db-down"]})
    assert forced_a.fingerprint == forced_b.fingerprint


def test_title_and_culprit() -> None:
    found = group(exception_event("KeyError", "'sku'"))
    assert found.title == "KeyError: 'sku'"
    assert found.culprit == "shop.cart in total"
