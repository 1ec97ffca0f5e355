"""API tokens (each user's own) and service accounts (admin)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Request

from watchkeeper.api.deps import Db, require
from watchkeeper.api.deps import request_actor as actor
from watchkeeper.api.schemas import NewTokenOut, ServiceAccountIn, TokenIn, TokenOut, UserOut
from watchkeeper.auth import tokens
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.exceptions import NotFoundError
from watchkeeper.store.tables import User

router = APIRouter(prefix="/api/v1", tags=["tokens"])
Viewer = Annotated[SessionInfo, require("viewer")]
Admin = Annotated[SessionInfo, require("admin")]


def token_out(view: tokens.TokenView) -> TokenOut:
    return TokenOut(
        **{**asdict(view), "prefix": f"{tokens.TOKEN_PREFIX}{view.prefix}"}, state=view.state
    )


def _new_token_out(new: tokens.NewToken) -> NewTokenOut:
    return NewTokenOut(**token_out(new.view).model_dump(), token=new.token)


def _me(db: Db, info: SessionInfo) -> User:
    user = db.get(User, info.user_id)
    if user is None:
        raise NotFoundError("user not found")
    return user


@router.get("/tokens", response_model=list[TokenOut], summary="Your API tokens")
def list_my_tokens(db: Db, info: Viewer, include_revoked: bool = False) -> list[TokenOut]:
    return [
        token_out(t) for t in tokens.list_tokens(db, info.user_id, include_revoked=include_revoked)
    ]


@router.post(
    "/tokens",
    response_model=NewTokenOut,
    status_code=201,
    summary="Make an API token (the response is the only time it is shown)",
)
def create_my_token(request: Request, body: TokenIn, db: Db, info: Viewer) -> NewTokenOut:
    """The token's role may not exceed yours; a call made with a token can only make tokens
    up to that token's role."""
    new = tokens.create_token(
        db,
        actor(request, info),
        _me(db, info),
        body.name,
        body.role,
        expires_in=body.expires_in,
        max_role=info.role,
    )
    db.commit()
    return _new_token_out(new)


@router.delete("/tokens/{token_id}", response_model=TokenOut, summary="Revoke one of your tokens")
def revoke_my_token(request: Request, token_id: int, db: Db, info: Viewer) -> TokenOut:
    view = tokens.revoke_token(db, actor(request, info), token_id, info.user_id)
    db.commit()
    return token_out(view)


@router.get("/service-accounts", response_model=list[UserOut], summary="List service accounts")
def list_service_accounts(db: Db, _: Admin) -> list[UserOut]:
    return [UserOut(**asdict(u)) for u in tokens.list_service_accounts(db)]


@router.post(
    "/service-accounts",
    response_model=UserOut,
    status_code=201,
    summary="Make a service account (no password: it calls the API with tokens)",
)
def create_service_account(
    request: Request, body: ServiceAccountIn, db: Db, info: Admin
) -> UserOut:
    view = tokens.create_service_account(
        db, actor(request, info), body.username, body.role, body.display_name
    )
    db.commit()
    return UserOut(**asdict(view))


@router.get(
    "/service-accounts/{account}/tokens",
    response_model=list[TokenOut],
    summary="A service account's tokens",
)
def list_service_tokens(
    account: str, db: Db, _: Admin, include_revoked: bool = False
) -> list[TokenOut]:
    user = tokens.get_service_account(db, account)
    return [token_out(t) for t in tokens.list_tokens(db, user.id, include_revoked=include_revoked)]


@router.post(
    "/service-accounts/{account}/tokens",
    response_model=NewTokenOut,
    status_code=201,
    summary="Make a token for a service account (shown only in this response)",
)
def create_service_token(
    request: Request, account: str, body: TokenIn, db: Db, info: Admin
) -> NewTokenOut:
    user = tokens.get_service_account(db, account)
    new = tokens.create_token(
        db,
        actor(request, info),
        user,
        body.name,
        body.role,
        expires_in=body.expires_in,
        max_role=info.role,
    )
    db.commit()
    return _new_token_out(new)


@router.delete(
    "/service-accounts/{account}/tokens/{token_id}",
    response_model=TokenOut,
    summary="Revoke a service account's token",
)
def revoke_service_token(
    request: Request, account: str, token_id: int, db: Db, info: Admin
) -> TokenOut:
    user = tokens.get_service_account(db, account)
    view = tokens.revoke_token(db, actor(request, info), token_id, user.id)
    db.commit()
    return token_out(view)
