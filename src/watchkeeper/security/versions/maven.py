"""Maven artifact versions, ordered as Maven's ``ComparableVersion`` orders them (the rules
the Apache Maven documentation gives for version order):

- ``.`` and ``-`` separate items, and so does a change between digits and letters
  (``1.0alpha1`` is ``1.0-alpha-1``); a ``-`` starts a sub-list, which sorts below a
  number at the same place (``1-1 < 1.1``) and above a qualifier;
- numbers compare as numbers; trailing zeros, empty qualifiers and empty sub-lists are
  dropped (``1.0.0 == 1 == 1-ga``);
- qualifiers (case does not matter) sort ``alpha < beta < milestone < rc = cr < snapshot <
  "" = ga = final < sp``, then any other qualifier in alphabetical order; ``a``, ``b`` and
  ``m`` directly followed by a digit mean alpha, beta and milestone.
"""

from __future__ import annotations

from functools import lru_cache

from watchkeeper.security.versions.errors import VersionError

_QUALIFIERS = ("alpha", "beta", "milestone", "rc", "snapshot", "", "sp")
_ALIASES = {"ga": "", "final": "", "release": "", "cr": "rc"}
_SHORT = {"a": "alpha", "b": "beta", "m": "milestone"}
_RELEASE = _QUALIFIERS.index("")
_DIGITS = frozenset("0123456789")


class MavenVersionError(VersionError):
    """A string that is not a Maven version."""


class _Qualifier:
    """A string item; ``rank`` orders the known qualifiers, then the others by name."""

    __slots__ = ("rank",)

    def __init__(self, text: str, followed_by_digit: bool) -> None:
        if followed_by_digit and text in _SHORT:
            text = _SHORT[text]
        text = _ALIASES.get(text, text)
        known = text in _QUALIFIERS
        self.rank: tuple[int, str] = (
            (_QUALIFIERS.index(text), "") if known else (len(_QUALIFIERS), text)
        )

    def is_null(self) -> bool:
        return self.rank == (_RELEASE, "")


class _List(list["Item"]):
    """A sub-list: the items after a ``-``."""

    def normalise(self) -> None:
        """Drop trailing null items (0, the release qualifier, empty lists), stopping at
        the first item that is neither null nor a list."""
        for i in range(len(self) - 1, -1, -1):
            item = self[i]
            if _is_null(item):
                del self[i]
            elif not isinstance(item, _List):
                break


Item = int | _Qualifier | _List
"""One item of a version: a number, a qualifier or a sub-list."""


def _is_null(item: Item) -> bool:
    if isinstance(item, int):
        return item == 0
    if isinstance(item, _Qualifier):
        return item.is_null()
    return len(item) == 0


def _cmp(a: Item, b: Item | None) -> int:
    """Maven's ``Item.compareTo``: -1, 0 or 1 (``b`` None: the missing item)."""
    if isinstance(a, int):
        if b is None:
            return 0 if a == 0 else 1
        if isinstance(b, int):
            return (a > b) - (a < b)
        return 1  # 1.1 > 1-sp and 1.1 > 1-1
    if isinstance(a, _Qualifier):
        if b is None:
            return (a.rank > (_RELEASE, "")) - (a.rank < (_RELEASE, ""))  # 1-rc < 1 < 1-sp
        if isinstance(b, _Qualifier):
            return (a.rank > b.rank) - (a.rank < b.rank)
        return -1  # a qualifier sorts below a number and below a sub-list
    if b is None:
        for item in a:
            result = _cmp(item, None)
            if result:
                return result
        return 0
    if isinstance(b, int):
        return -1  # 1-1 < 1.1
    if isinstance(b, _Qualifier):
        return 1  # 1-1 > 1-sp
    for i in range(max(len(a), len(b))):
        left = a[i] if i < len(a) else None
        right = b[i] if i < len(b) else None
        if left is None:
            result = 0 if right is None else -_cmp(right, None)
        else:
            result = _cmp(left, right)
        if result:
            return result
    return 0


def _item(text: str, digits: bool) -> Item:
    return int(text) if digits else _Qualifier(text, False)


@lru_cache(maxsize=65536)
def parse(text: str) -> _List:
    """Return ``text`` as Maven's item list; raise MavenVersionError for an empty string
    (every other string is a Maven version, as for Maven itself)."""
    version = text.strip().lower()
    if not version:
        raise MavenVersionError("an empty string is not a Maven version")
    items = current = _List()
    lists = [current]
    digits = False
    start = 0
    for i, char in enumerate(version):
        if char in ".-":
            current.append(0 if i == start else _item(version[start:i], digits))
            start = i + 1
            if char == "-":
                current.append(sub := _List())
                current = sub
                lists.append(current)
        elif char in _DIGITS:
            if not digits and i > start:
                current.append(_Qualifier(version[start:i], True))
                start = i
                current.append(sub := _List())
                current = sub
                lists.append(current)
            digits = True
        else:
            if digits and i > start:
                current.append(int(version[start:i]))
                start = i
                current.append(sub := _List())
                current = sub
                lists.append(current)
            digits = False
    if len(version) > start:
        current.append(_item(version[start:], digits))
    for sub in reversed(lists):
        sub.normalise()
    return items


def compare(a: str, b: str) -> int:
    """Return -1, 0 or 1 as Maven version ``a`` sorts before, equal to or after ``b``;
    raise MavenVersionError if either is empty."""
    return _cmp(parse(a), parse(b))
