"""Binary operators: arithmetic and comparisons (with and without bool) between scalars and
vectors, vector matching with on/ignoring and group_left/group_right, set operators (cases
adapted from Prometheus's operators.test)."""

from __future__ import annotations

import math

import pytest

from tests.metrics.promql.loader import Steps, approx, instant, load, range_query, scalar
from watchkeeper.metrics.promql import Engine, EvaluationError

SERIES = [
    (job, instance, group)
    for job in ("api-server", "app-server")
    for group in ("production", "canary")
    for instance in ("0", "1")
]


@pytest.fixture
def requests() -> Engine:
    # Growing by 10, 20, ... 80 per 5 minutes, in the order of SERIES.
    return Engine(
        load(
            "5m",
            {
                f'http_requests_total{{job="{job}", instance="{i}", group="{group}"}}': f"0+{n}x10"
                for n, (job, i, group) in zip(range(10, 90, 10), SERIES, strict=True)
            },
        )
    )


@pytest.mark.parametrize(
    ("query", "value"),
    [
        ("1 + 2 * 3", 7),
        ("-2 ^ 2", -4),
        ("2 ^ 3 ^ 2", 512),
        ("-2^---1*3", -1.5),
        ("2/-2^---1*3+2", -10),
        ("7 % 3", 1),
        ("-7 % 3", -1),  # the sign of the dividend, like Go's math.Mod
        ("1 / 0", math.inf),
        ("10 atan2 20", 0.4636476090008061),
        ("2 > bool 1", 1),
        ("2 < bool 1", 0),
        ("NaN == bool NaN", 0),
        ("0x10 + 1h", 3616),
    ],
)
def test_scalar_arithmetic(query: str, value: float) -> None:
    assert scalar(Engine(load("1m", {})), query, 0) == approx(value)


def test_scalar_nan_results() -> None:
    engine = Engine(load("1m", {}))
    assert math.isnan(scalar(engine, "0 / 0", 0))
    assert math.isnan(scalar(engine, "5 % 0", 0))


def test_vector_scalar_arithmetic_drops_the_name(requests: Engine) -> None:
    selector = 'http_requests_total{job="api-server", group="canary"}'
    assert instant(requests, f"{selector} * 2 - 1", "50m") == {
        '{group="canary", instance="0", job="api-server"}': 599,
        '{group="canary", instance="1", job="api-server"}': 799,
    }
    assert instant(requests, f"1000 / {selector}", "50m") == approx(
        {
            '{group="canary", instance="0", job="api-server"}': 1000 / 300,
            '{group="canary", instance="1", job="api-server"}': 2.5,
        }
    )
    # Unary minus drops it too; unary plus does not.
    assert set(instant(requests, f"-{selector}", "50m").values()) == {-300, -400}
    assert all(
        k.startswith("http_requests_total") for k in instant(requests, f"+{selector}", "50m")
    )


def test_comparisons_filter_and_keep_the_left_value(requests: Engine) -> None:
    sums = "sum by (job) (http_requests_total)"
    assert instant(requests, f"{sums} > 1000", "50m") == {'{job="app-server"}': 2600}
    # With the scalar on the left the vector's value still comes out.
    assert instant(requests, f"1000 < {sums}", "50m") == {'{job="app-server"}': 2600}
    assert instant(requests, f"{sums} == bool 1000", "50m") == {
        '{job="api-server"}': 1,
        '{job="app-server"}': 0,
    }
    # Comparisons keep the metric name; with bool it goes.
    selector = 'http_requests_total{job="api-server", instance="0", group="production"}'
    assert list(instant(requests, f"{selector} == 100", "50m")) == [
        'http_requests_total{group="production", instance="0", job="api-server"}'
    ]
    assert list(instant(requests, f"{selector} == bool 100", "50m")) == [
        '{group="production", instance="0", job="api-server"}'
    ]


def test_comparisons_over_a_range_follow_presence_and_nan() -> None:
    # Samples every 6m: with a 5m lookback each value is seen at one step only. "stale" ends
    # a series, "_" is a missing sample.
    engine = Engine(
        load(
            "6m",
            {
                "left": "1 2 _ _ 3 stale 4 5 NaN Inf -Inf",
                "right": "4 _ _ 5 3 7 -1 20 NaN Inf -Inf",
            },
        )
    )

    def run(query: str) -> dict[str, list[float | None]]:
        return range_query(engine, query, 0, "60m", "6m")

    nan = math.nan
    inf = math.inf
    assert run("left == right") == Steps({"left{}": [None] * 4 + [3] + [None] * 4 + [inf, -inf]})
    assert run("left == bool right") == {"{}": [0, None, None, None, 1, None, 0, 0, 0, 1, 1]}
    assert run("left != right") == Steps({"left{}": [1] + [None] * 5 + [4, 5, nan, None, None]})
    assert run("left > right") == {"left{}": [None] * 6 + [4] + [None] * 4}
    assert run("left <= bool right") == {"{}": [1, None, None, None, 1, None, 0, 1, 0, 1, 1]}
    assert run("left >= 3") == Steps({"left{}": [None] * 4 + [3, None, 4, 5, None, inf, None]})
    assert run("3 > left") == Steps({"left{}": [1, 2] + [None] * 8 + [-inf]})
    assert run("left == bool NaN") == {"{}": [0, 0, None, None, 0, None, 0, 0, 0, 0, 0]}
    assert run("left == NaN") == {}


def test_one_to_one_matching(requests: Engine) -> None:
    canary, production = (
        'http_requests_total{group="canary"}',
        'http_requests_total{group="production"}',
    )
    expected = {
        '{instance="0", job="api-server"}': 3,
        '{instance="0", job="app-server"}': 1.4,
        '{instance="1", job="api-server"}': 2,
        '{instance="1", job="app-server"}': 80 / 60,
    }
    # on() keeps only the listed labels; ignoring() removes the ignored ones.
    assert instant(requests, f"{canary} / on(instance, job) {production}", "50m") == approx(
        expected
    )
    assert instant(requests, f"{canary} / ignoring(group) {production}", "50m") == approx(expected)
    sums = "sum by (job) (http_requests_total)"
    assert instant(requests, f"{sums} - count by (job) (http_requests_total)", "50m") == {
        '{job="api-server"}': 996,
        '{job="app-server"}': 2596,
    }


def test_comparison_between_vectors() -> None:
    engine = Engine(
        load(
            "5m",
            {'test_total{instance="localhost"}': "50", 'test_smaller{instance="localhost"}': "10"},
        )
    )
    assert instant(engine, "test_total > test_smaller", "1m") == {
        'test_total{instance="localhost"}': 50
    }
    assert instant(engine, "test_total < test_smaller", "1m") == {}
    assert instant(engine, "test_total > bool test_smaller", "1m") == {'{instance="localhost"}': 1}


@pytest.fixture
def nodes() -> Engine:
    return Engine(
        load(
            "5m",
            {
                'node_var{instance="abc", job="node"}': "2",
                'node_role{instance="abc", job="node", role="prometheus"}': "1",
                'node_cpu{instance="abc", job="node", mode="idle"}': "3",
                'node_cpu{instance="abc", job="node", mode="user"}': "1",
                'node_cpu{instance="def", job="node", mode="idle"}': "8",
                'node_cpu{instance="def", job="node", mode="user"}': "2",
                'random{foo="bar"}': "1",
                'threshold{instance="abc", job="node", target="a@b.com"}': "0",
            },
        )
    )


def test_group_left_and_group_right_copy_labels(nodes: Engine) -> None:
    with_role = {'{instance="abc", job="node", role="prometheus"}': 2}
    assert instant(nodes, "node_var * on (instance) group_left (role) node_role", "1m") == with_role
    assert (
        instant(nodes, "node_var * ignoring (role) group_left (role) node_role", "1m") == with_role
    )
    assert (
        instant(nodes, "node_role * on (instance) group_right (role) node_var", "1m") == with_role
    )
    assert instant(nodes, "node_cpu * on (instance) group_left (role) node_role", "1m") == {
        '{instance="abc", job="node", mode="idle", role="prometheus"}': 3,
        '{instance="abc", job="node", mode="user", role="prometheus"}': 1,
    }


def test_ratio_of_total_with_group_left(nodes: Engine) -> None:
    assert instant(
        nodes, "node_cpu / on (instance) group_left sum by (instance, job) (node_cpu)", "1m"
    ) == approx(
        {
            '{instance="abc", job="node", mode="idle"}': 0.75,
            '{instance="abc", job="node", mode="user"}': 0.25,
            '{instance="def", job="node", mode="idle"}': 0.8,
            '{instance="def", job="node", mode="user"}': 0.2,
        }
    )
    # A label from a series with nothing in common, through on().
    result = instant(nodes, "node_cpu + on (dummy) group_left (foo) random * 0", "1m")
    assert result['{foo="bar", instance="def", job="node", mode="idle"}'] == 8
    # Comparisons keep the name and filter; the threshold's target label is copied.
    assert instant(nodes, "node_cpu > on (job, instance) group_left (target) threshold", "1m") == {
        'node_cpu{instance="abc", job="node", mode="idle", target="a@b.com"}': 3,
        'node_cpu{instance="abc", job="node", mode="user", target="a@b.com"}': 1,
    }


def test_matching_errors(nodes: Engine) -> None:
    # Without group_left, two node_cpu series match the one node_role series.
    with pytest.raises(EvaluationError, match="many-to-one matching must be explicit"):
        nodes.instant("node_cpu * on (instance) node_role", 60_000)
    # With group_left the "one" side must be unique per match group.
    with pytest.raises(EvaluationError, match="found duplicate series for the match group"):
        nodes.instant("node_role * on (job) group_left node_cpu", 60_000)
    # Dropping the name of two series that differ only by it gives two equal label sets.
    engine = Engine(load("5m", {'a{src="x"}': "0", 'b{src="x"}': "1"}))
    with pytest.raises(EvaluationError, match="same labelset"):
        engine.instant('-{__name__=~"a|b"}', 0)


def test_set_operators(requests: Engine) -> None:
    canary, instance0 = 'http_requests_total{group="canary"}', 'http_requests_total{instance="0"}'
    assert instant(requests, f"{canary} and {instance0}", "50m") == {
        'http_requests_total{group="canary", instance="0", job="api-server"}': 300,
        'http_requests_total{group="canary", instance="0", job="app-server"}': 700,
    }
    assert instant(requests, f"({canary} + 1) and on(instance) {instance0}", "50m") == {
        '{group="canary", instance="0", job="api-server"}': 301,
        '{group="canary", instance="0", job="app-server"}': 701,
    }
    assert instant(requests, f"{canary} unless {instance0}", "50m") == {
        'http_requests_total{group="canary", instance="1", job="api-server"}': 400,
        'http_requests_total{group="canary", instance="1", job="app-server"}': 800,
    }
    assert instant(requests, f"{canary} unless on(job) {instance0}", "50m") == {}
    # "or" adds right-hand series whose match group is not on the left.
    result = instant(requests, f'({canary} + 1) or http_requests_total{{instance="1"}}', "50m")
    assert result == {
        '{group="canary", instance="0", job="api-server"}': 301,
        '{group="canary", instance="0", job="app-server"}': 701,
        '{group="canary", instance="1", job="api-server"}': 401,
        '{group="canary", instance="1", job="app-server"}': 801,
        'http_requests_total{group="production", instance="1", job="api-server"}': 200,
        'http_requests_total{group="production", instance="1", job="app-server"}': 600,
    }
    assert len(instant(requests, "http_requests_total and on (dummy) vector(1)", "50m")) == 8


def test_or_fills_gaps_step_by_step() -> None:
    engine = Engine(load("1m", {'m{s="a"}': "1 1 _ _ _ _ _ _ _ 1", 'fallback{s="a"}': "0x9"}))
    # m's last sample at 1m is visible until 6m; fallback fills in from then until m returns.
    assert range_query(engine, "m or fallback", 0, "9m", "1m") == {
        'm{s="a"}': [1, 1, 1, 1, 1, 1, None, None, None, 1],
        'fallback{s="a"}': [None] * 6 + [0, 0, 0, None],
    }
