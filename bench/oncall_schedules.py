"""On-call schedules: the time to compute 90-day calendars (every layer, final shifts, gaps,
holidays) for a number of schedules, pure computation without the store.

python bench/oncall_schedules.py [--schedules 10] [--days 90] [--overrides 20]

Each schedule has a weekly primary rotation, a daily business-hours layer restricted to
weekdays 09:00-17:00, and a custom 8h follow-the-sun layer, in a time zone with DST (so the
range crosses a change). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from watchkeeper.incidents.oncall_config import Schedule
from watchkeeper.incidents.schedules import final_shifts, gaps_of, holidays_in, layer_shifts

ZONES = ("Europe/Berlin", "America/New_York", "Australia/Sydney", "UTC", "Asia/Kolkata")


@dataclass(frozen=True)
class Cover:
    person: str
    starts_at: datetime
    ends_at: datetime


def make_schedule(i: int) -> Schedule:
    return Schedule.model_validate(
        {
            "name": f"team-{i}",
            "time_zone": ZONES[i % len(ZONES)],
            "holidays": ["2026-04-03", "2026-04-06", "2026-05-01"],
            "layers": [
                {"rotation": "weekly", "members": [f"p{i}-{m}" for m in range(6)]},
                {
                    "rotation": "daily",
                    "members": [f"d{i}-{m}" for m in range(3)],
                    "restrict": [
                        {
                            "days": ["mon", "tue", "wed", "thu", "fri"],
                            "start": "09:00",
                            "end": "17:00",
                        }
                    ],
                },
                {"rotation": "custom", "shift_length": "8h", "members": ["a", "b", "c"]},
            ],
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--schedules", type=int, default=10)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--overrides", type=int, default=20)
    args = parser.parse_args()
    start = datetime(2026, 3, 1, tzinfo=UTC)
    end = start + timedelta(days=args.days)
    plans = [make_schedule(i) for i in range(args.schedules)]
    covers = [
        Cover("x", start + timedelta(hours=37 * k), start + timedelta(hours=37 * k + 9))
        for k in range(args.overrides)
    ]

    def run() -> int:
        pieces = 0
        for plan in plans:
            for index in range(len(plan.layers)):
                pieces += len(layer_shifts(plan, index, start, end))
            final = final_shifts(plan, covers, start, end)
            pieces += len(final) + len(gaps_of(final, start, end))
            holidays_in(plan, start, end)
        return pieces

    pieces = run()
    times = []
    for _ in range(7):
        t0 = time.perf_counter()
        run()
        times.append((time.perf_counter() - t0) * 1000)
    print(
        f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}"
    )
    print(
        f"{args.schedules} schedules x {args.days} days (3 layers, {args.overrides} overrides): "
        f"{statistics.median(times):.1f} ms median of 7, {pieces} pieces"
    )


if __name__ == "__main__":
    main()
