"""Browser tests: Debian's chromium, driven by Playwright."""

from __future__ import annotations

import pytest

from tests.helpers import chromium_or_skip


@pytest.fixture
def chromium() -> str:
    """Path to Debian's chromium (the test is skipped without it, and fails under CI)."""
    return chromium_or_skip()
