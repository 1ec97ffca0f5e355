"""Recovery codes: ten, single use, stored hashed, replaced as a set."""

from __future__ import annotations

import re

from sqlalchemy import select

from tests.conftest import make_user, remember_secret
from watchkeeper.auth import recovery
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import RecoveryCode, User

CODE = re.compile(r"^[23456789abcdefghjkmnpqrstuvwxyz]{5}-[23456789abcdefghjkmnpqrstuvwxyz]{5}$")


def _user(ctx: AppContext, username: str) -> int:
    make_user(ctx, username, "viewer")
    with ctx.sessions() as db:
        user_id = db.scalar(select(User.id).where(User.username == username))
        assert user_id is not None
        return user_id


def _generate(ctx: AppContext, user_id: int) -> list[str]:
    with ctx.sessions() as db:
        codes = recovery.generate(db, user_id)
        db.commit()
    for code in codes:
        remember_secret(code)
    return codes


def test_ten_distinct_codes_in_the_readable_format(ctx: AppContext) -> None:
    codes = _generate(ctx, _user(ctx, "ida"))
    assert len(codes) == recovery.COUNT == 10
    assert len(set(codes)) == 10
    assert all(CODE.match(c) for c in codes), codes


def test_a_recovery_code_works_once(ctx: AppContext) -> None:
    user_id = _user(ctx, "ida")
    codes = _generate(ctx, user_id)
    with ctx.sessions() as db:
        assert recovery.use(db, user_id, codes[0])
        db.commit()
    with ctx.sessions() as db:
        assert not recovery.use(db, user_id, codes[0])
        assert recovery.remaining(db, user_id) == 9
        used = db.scalars(select(RecoveryCode).where(RecoveryCode.used_at.is_not(None))).all()
        assert len(used) == 1
        # Typed in capitals, without the dash, with spaces: still the code.
        assert recovery.use(db, user_id, " " + codes[1].upper().replace("-", "") + " ")
        assert not recovery.use(db, user_id, "not-a-code")
        assert not recovery.use(db, user_id, "")
        assert recovery.remaining(db, user_id) == 8


def test_regenerating_invalidates_the_old_codes(ctx: AppContext) -> None:
    user_id = _user(ctx, "ida")
    old = _generate(ctx, user_id)
    new = _generate(ctx, user_id)
    assert not set(old) & set(new)
    with ctx.sessions() as db:
        assert recovery.remaining(db, user_id) == 10
        assert not any(recovery.use(db, user_id, code) for code in old[:3])
        assert recovery.use(db, user_id, new[0])


def test_codes_are_stored_hashed(ctx: AppContext) -> None:
    user_id = _user(ctx, "ida")
    codes = _generate(ctx, user_id)
    with ctx.sessions() as db:
        hashes = db.scalars(select(RecoveryCode.code_hash)).all()
    assert len(hashes) == 10
    assert all(h.startswith("$argon2id$") for h in hashes)
    stored = " ".join(hashes)
    assert not any(c in stored or c.replace("-", "") in stored for c in codes)


def test_codes_belong_to_their_user(ctx: AppContext) -> None:
    ida, joe = _user(ctx, "ida"), _user(ctx, "joe")
    codes = _generate(ctx, ida)
    with ctx.sessions() as db:
        assert not recovery.use(db, joe, codes[0])
        assert recovery.remove_all(db, ida) == 10
        db.commit()
        assert not recovery.use(db, ida, codes[0])
