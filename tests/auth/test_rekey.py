"""After a secret-key rotation, `reseal_all` re-encrypts stored secrets with the new key."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.auth.rekey import reseal_all
from watchkeeper.auth.secrets import SecretBox, SecretError
from watchkeeper.auth.users import create_user
from watchkeeper.store.tables import TotpCredential

OLD, NEW = "old secret key " * 4, "new secret key " * 4


def test_reseal_moves_secrets_to_the_new_key(db: Session) -> None:
    user = create_user(db, "gwen", "correct horse battery staple", "viewer")
    db.add(TotpCredential(user_id=user.id, secret_enc=SecretBox(OLD).seal("JBSWY3DPEHPK3PXP")))
    db.commit()
    box = SecretBox(NEW, previous=[OLD])
    ticks: list[int] = []
    assert reseal_all(db, box, ticks.append) == (1, 1)
    db.commit()
    sealed = db.scalar(select(TotpCredential.secret_enc))
    assert sealed is not None and SecretBox(NEW).open(sealed) == "JBSWY3DPEHPK3PXP"
    assert ticks == [1]
    assert reseal_all(db, box) == (0, 1)  # nothing left to do


def test_reseal_refuses_values_no_key_opens(db: Session) -> None:
    user = create_user(db, "hal", "correct horse battery staple", "viewer")
    db.add(TotpCredential(user_id=user.id, secret_enc=SecretBox(OLD).seal("JBSWY3DPEHPK3PXP")))
    db.commit()
    with pytest.raises(SecretError):
        reseal_all(db, SecretBox(NEW))
