"""Two-factor sign-in: the challenge after the password, enrolment, and the Security page.

After a good password, a user with a second factor holds a session in stage "mfa" and is
sent to ``/login/mfa``; a user whose role requires MFA but who has none yet holds one in
stage "enrol" and is sent to ``/login/enrol``. Only once the second factor is given (or set
up) does the session become "full", under a new identifier. Failed codes count towards the
same throttle and lockout as failed passwords, so the second factor cannot be guessed.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Body, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from watchkeeper.api.deps import Db, get_ctx, require, staged
from watchkeeper.api.deps import request_actor as _actor
from watchkeeper.api.problems import problem
from watchkeeper.auth import audit, recovery, security_keys, throttle, totp
from watchkeeper.auth.mfa import has_second_factor, mfa_required
from watchkeeper.auth.security_keys import RelyingParty, SecurityKeyError
from watchkeeper.auth.sessions import (
    COOKIE_NAME,
    SessionInfo,
    end_session,
    promote_session,
    session_id_of,
)
from watchkeeper.exceptions import NotFoundError
from watchkeeper.store.tables import User
from watchkeeper.web.pages import (
    _safe_next,
    client_addr,
    render,
    set_session_cookie,
    signed_in,
)

router = APIRouter(include_in_schema=False)
MfaPage = Annotated[SessionInfo, staged("mfa")]
MfaCall = Annotated[SessionInfo, staged("mfa", page=False)]
EnrolPage = Annotated[SessionInfo, staged("enrol")]
EnrolCall = Annotated[SessionInfo, staged("enrol", page=False)]
PendingPage = Annotated[SessionInfo, staged("mfa", "enrol")]
PageUser = Annotated[SessionInfo, require("viewer", page=True)]
ApiUser = Annotated[SessionInfo, require("viewer")]
Payload = Annotated[dict[str, Any], Body()]

DONE_MESSAGES = {
    "totp-on": "Authenticator app turned on.",
    "totp-off": "Authenticator app turned off.",
    "key-added": "Security key added.",
    "key-renamed": "Security key renamed.",
    "key-removed": "Security key removed.",
}


# --- helpers --------------------------------------------------------------------------------


def _after(target: str) -> str:
    """Where to go once signed in: ``target`` if it is a local page other than sign-in."""
    target = _safe_next(target)
    return "/" if target == "/login" or target.startswith(("/login?", "/login/")) else target


def _token(request: Request) -> str:
    return request.cookies.get(COOKIE_NAME, "")


def _session_id(request: Request) -> str:
    return session_id_of(_token(request))


def _target(info: SessionInfo) -> str:
    return f"user/{info.username}"


def _user(db: Session, info: SessionInfo) -> User:
    user = db.get(User, info.user_id)
    if user is None:
        raise NotFoundError("user not found")
    return user


def _rp(request: Request) -> RelyingParty:
    return security_keys.relying_party(str(request.base_url), get_ctx(request).settings.public_url)


def _wait(seconds: int) -> str:
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


def _too_many(wait: int) -> str:
    return f"Too many failed attempts. Try again in {_wait(wait)}."


def _throttled(db: Session, request: Request, info: SessionInfo) -> int:
    """Return the seconds to wait when the throttle refuses an attempt now (0 if allowed);
    a refusal is recorded in the audit trail."""
    verdict = throttle.check(db, info.username, client_addr(request))
    if verdict.allowed:
        return 0
    audit.record(
        db,
        _actor(request, info),
        "login.throttled",
        _target(info),
        {"retry_after_s": verdict.retry_after, "locked": verdict.locked, "stage": "mfa"},
    )
    db.commit()
    return verdict.retry_after


def _failed(db: Session, request: Request, info: SessionInfo, method: str) -> None:
    """Count a wrong second factor towards the throttle and lockout, and record it."""
    actor = _actor(request, info)
    locked = throttle.record_failure(db, info.username, actor.client_addr)
    audit.record(db, actor, "login.mfa_failed", _target(info), {"method": method})
    if locked:
        audit.record(
            db,
            actor,
            "user.locked",
            _target(info),
            {"for_minutes": int(throttle.LOCK_FOR.total_seconds() // 60)},
        )
    db.commit()


def _complete(db: Session, request: Request, info: SessionInfo, detail: dict[str, Any]) -> str:
    """Turn the pending session into a full one under a new identifier; return its token."""
    throttle.clear(db, info.username)
    token = promote_session(db, _token(request))
    audit.record(db, _actor(request, info), "login", _target(info), detail)
    db.commit()
    return token


def _factor_problem(db: Session, info: SessionInfo, removing: str) -> str:
    """Return why removing ``removing`` ("totp" or a key) is refused ("" when it is not)."""
    keys = security_keys.count_keys(db, info.user_id)
    app = totp.is_enabled(db, info.user_id)
    left = (keys - 1 if removing == "key" else keys) + (1 if app and removing != "totp" else 0)
    if left <= 0 and mfa_required(db, info.role):
        return (
            f"Your role ({info.role}) requires two-factor sign-in: add another authenticator "
            "app or security key before removing this one."
        )
    return ""


def _last_factor_gone(db: Session, request: Request, info: SessionInfo) -> None:
    """Recovery codes stand in for a second factor: without one they go too."""
    if not has_second_factor(db, info.user_id) and recovery.remove_all(db, info.user_id):
        audit.record(
            db, _actor(request, info), "mfa.recovery.removed", _target(info), {"why": "no factor"}
        )


def _totp_setup(db: Session, request: Request, info: SessionInfo) -> dict[str, Any]:
    box = get_ctx(request).secret_box
    secret = totp.pending_secret(db, box, info.user_id)
    db.commit()
    return {
        "qr": totp.qr_svg(totp.provisioning_uri(secret, info.username)),
        "secret_grouped": totp.grouped(secret),
    }


def _json_error(status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    return problem(status, detail, headers=headers)


# --- the second factor after the password ---------------------------------------------------


def _mfa_page(
    request: Request,
    db: Session,
    info: SessionInfo,
    next: str,
    *,
    status: int = 200,
    error: str = "",
    method: str = "",
) -> Response:
    return render(
        request,
        "mfa.html",
        status=status,
        csrf_token=info.csrf_token,
        username=info.username,
        next=_after(next),
        has_totp=totp.is_enabled(db, info.user_id),
        has_keys=security_keys.count_keys(db, info.user_id) > 0,
        error=error,
        method=method,
        page_title="Two-factor sign-in",
    )


@router.get("/login/mfa")
def mfa_page(request: Request, db: Db, info: MfaPage, next: str = "/") -> Response:
    return _mfa_page(request, db, info, next)


@router.post("/login/mfa")
def mfa_submit(
    request: Request,
    db: Db,
    info: MfaPage,
    code: Annotated[str, Form()] = "",
    method: Annotated[str, Form()] = "totp",
    next: Annotated[str, Form()] = "/",
) -> Response:
    method = "recovery" if method == "recovery" else "totp"
    wait = _throttled(db, request, info)
    if wait:
        response = _mfa_page(
            request,
            db,
            info,
            next,
            status=429,
            method=method,
            error=_too_many(wait),
        )
        response.headers["Retry-After"] = str(wait)
        return response
    if method == "recovery":
        ok = recovery.use(db, info.user_id, code)
    else:
        ok = totp.verify(db, get_ctx(request).secret_box, info.user_id, code)
    if not ok:
        _failed(db, request, info, method)
        error = (
            "That recovery code is not valid or was already used."
            if method == "recovery"
            else "That code is not right, or was already used. Wait for the next one."
        )
        return _mfa_page(request, db, info, next, status=401, method=method, error=error)
    detail: dict[str, Any] = {"mfa": method}
    if method == "recovery":
        detail["recovery_codes_left"] = recovery.remaining(db, info.user_id)
    return signed_in(request, _complete(db, request, info, detail), _after(next))


@router.post("/login/mfa/webauthn/options")
def mfa_webauthn_options(request: Request, db: Db, info: MfaCall) -> Response:
    wait = _throttled(db, request, info)
    if wait:
        return _json_error(429, _too_many(wait), {"Retry-After": str(wait)})
    try:
        options = security_keys.authentication_options(
            db, _session_id(request), info.user_id, _rp(request)
        )
    except SecurityKeyError as exc:
        return _json_error(400, str(exc))
    db.commit()
    return Response(options, media_type="application/json")


@router.post("/login/mfa/webauthn/verify")
def mfa_webauthn_verify(request: Request, db: Db, info: MfaCall, payload: Payload) -> Response:
    wait = _throttled(db, request, info)
    if wait:
        return _json_error(429, _too_many(wait), {"Retry-After": str(wait)})
    credential = payload.get("credential")
    try:
        if not isinstance(credential, dict):
            raise SecurityKeyError("no answer from the security key was sent")
        key = security_keys.verify_authentication(
            db, _session_id(request), info.user_id, credential, _rp(request)
        )
    except SecurityKeyError as exc:
        db.commit()  # the challenge is used up either way
        _failed(db, request, info, "webauthn")
        return _json_error(400, str(exc))
    token = _complete(db, request, info, {"mfa": "webauthn", "key": key.name})
    response = JSONResponse({"redirect": _after(str(payload.get("next") or "/"))})
    set_session_cookie(request, response, token)
    return response


@router.post("/login/cancel")
def cancel(request: Request, db: Db, info: PendingPage) -> Response:
    """Abandon a sign-in half way (to sign in as someone else)."""
    end_session(db, _token(request))
    audit.record(db, _actor(request, info), "logout", _target(info), {"stage": info.stage})
    db.commit()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE_NAME, path="/")
    return response


# --- enrolment, for roles that require a second factor --------------------------------------


def _enrol_page(
    request: Request,
    db: Session,
    info: SessionInfo,
    next: str,
    *,
    status: int = 200,
    error: str = "",
) -> Response:
    context: dict[str, Any] = {}
    if has_second_factor(db, info.user_id):
        step = "recovery"
        context["factor"] = (
            "Authenticator app" if totp.is_enabled(db, info.user_id) else "Security key"
        )
    else:
        step = "choose"
        context.update(_totp_setup(db, request, info))
    return render(
        request,
        "enrol.html",
        status=status,
        csrf_token=info.csrf_token,
        username=info.username,
        role=info.role,
        next=_after(next),
        step=step,
        error=error,
        page_title="Set up two-factor sign-in",
        **context,
    )


@router.get("/login/enrol")
def enrol_page(request: Request, db: Db, info: EnrolPage, next: str = "/") -> Response:
    return _enrol_page(request, db, info, next)


@router.post("/login/enrol/totp")
def enrol_totp(
    request: Request,
    db: Db,
    info: EnrolPage,
    code: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    if not totp.confirm(db, get_ctx(request).secret_box, info.user_id, code):
        db.rollback()
        return _enrol_page(
            request,
            db,
            info,
            next,
            status=422,
            error="That code is not right. Check the app shows Watchkeeper and try the next code.",
        )
    audit.record(db, _actor(request, info), "mfa.totp.enabled", _target(info))
    db.commit()
    return RedirectResponse(f"/login/enrol?next={quote(_after(next))}", status_code=303)


@router.post("/login/enrol/webauthn/options")
def enrol_webauthn_options(request: Request, db: Db, info: EnrolCall) -> Response:
    return _registration_options(request, db, info)


@router.post("/login/enrol/webauthn/verify")
def enrol_webauthn_verify(request: Request, db: Db, info: EnrolCall, payload: Payload) -> Response:
    target = f"/login/enrol?next={quote(_after(str(payload.get('next') or '/')))}"
    return _registration_verify(request, db, info, payload, target)


@router.post("/login/enrol/recovery")
def enrol_recovery(
    request: Request, db: Db, info: EnrolPage, next: Annotated[str, Form()] = "/"
) -> Response:
    if not has_second_factor(db, info.user_id):
        return RedirectResponse(f"/login/enrol?next={quote(_after(next))}", status_code=303)
    codes = _regenerate(db, request, info)
    return render(
        request,
        "recovery_codes.html",
        csrf_token=info.csrf_token,
        codes=codes,
        next=_after(next),
        page_title="Your recovery codes",
    )


@router.post("/login/enrol/done")
def enrol_done(
    request: Request, db: Db, info: EnrolPage, next: Annotated[str, Form()] = "/"
) -> Response:
    if not has_second_factor(db, info.user_id):
        return RedirectResponse(f"/login/enrol?next={quote(_after(next))}", status_code=303)
    factor = "totp" if totp.is_enabled(db, info.user_id) else "webauthn"
    token = _complete(db, request, info, {"mfa": factor, "enrolled": True})
    return signed_in(request, token, _after(next))


# --- shared by enrolment and the Security page ----------------------------------------------


def _regenerate(db: Session, request: Request, info: SessionInfo) -> list[str]:
    codes = recovery.generate(db, info.user_id)
    audit.record(
        db, _actor(request, info), "mfa.recovery.regenerated", _target(info), {"count": len(codes)}
    )
    db.commit()
    return codes


def _registration_options(request: Request, db: Session, info: SessionInfo) -> Response:
    try:
        options = security_keys.registration_options(
            db, _session_id(request), _user(db, info), _rp(request)
        )
    except SecurityKeyError as exc:
        return _json_error(400, str(exc))
    db.commit()
    return Response(options, media_type="application/json")


def _registration_verify(
    request: Request, db: Session, info: SessionInfo, payload: dict[str, Any], redirect: str
) -> Response:
    credential = payload.get("credential")
    try:
        if not isinstance(credential, dict):
            raise SecurityKeyError("no answer from the security key was sent")
        key = security_keys.verify_registration(
            db,
            _session_id(request),
            info.user_id,
            credential,
            _rp(request),
            str(payload.get("name") or ""),
        )
    except SecurityKeyError as exc:
        db.commit()  # the challenge is used up either way
        return _json_error(400, str(exc))
    audit.record(db, _actor(request, info), "mfa.key.added", _target(info), {"name": key.name})
    db.commit()
    return JSONResponse({"redirect": redirect})


# --- the Security page ----------------------------------------------------------------------


def _security_page(
    request: Request,
    db: Session,
    info: SessionInfo,
    *,
    status: int = 200,
    message: str = "",
    error: str = "",
) -> Response:
    return render(
        request,
        "account_security.html",
        status=status,
        active="account-security",
        page_title="Account security",
        message=message,
        error=error,
        totp_enabled=totp.is_enabled(db, info.user_id),
        keys=security_keys.list_keys(db, info.user_id),
        recovery_left=recovery.remaining(db, info.user_id),
        recovery_total=recovery.COUNT,
        has_factor=has_second_factor(db, info.user_id),
        requires_mfa=mfa_required(db, info.role),
    )


@router.get("/account/security")
def security_page(request: Request, db: Db, info: PageUser, done: str = "") -> Response:
    return _security_page(request, db, info, message=DONE_MESSAGES.get(done, ""))


@router.get("/account/security/totp")
def security_totp_page(request: Request, db: Db, info: PageUser) -> Response:
    if totp.is_enabled(db, info.user_id):
        return RedirectResponse("/account/security", status_code=303)
    return render(
        request,
        "account_totp.html",
        active="account-security",
        page_title="Set up an authenticator app",
        **_totp_setup(db, request, info),
    )


@router.post("/account/security/totp")
def security_totp_confirm(
    request: Request, db: Db, info: PageUser, code: Annotated[str, Form()] = ""
) -> Response:
    if not totp.confirm(db, get_ctx(request).secret_box, info.user_id, code):
        db.rollback()
        if totp.is_enabled(db, info.user_id):
            return RedirectResponse("/account/security", status_code=303)
        return render(
            request,
            "account_totp.html",
            status=422,
            active="account-security",
            page_title="Set up an authenticator app",
            error="That code is not right. Check the app shows Watchkeeper and try the next code.",
            **_totp_setup(db, request, info),
        )
    audit.record(db, _actor(request, info), "mfa.totp.enabled", _target(info))
    db.commit()
    if recovery.remaining(db, info.user_id) == 0:
        return _recovery_codes_page(request, _regenerate(db, request, info), first=True)
    return RedirectResponse("/account/security?done=totp-on", status_code=303)


@router.post("/account/security/totp/disable")
def security_totp_disable(request: Request, db: Db, info: PageUser) -> Response:
    problem_text = _factor_problem(db, info, "totp")
    if problem_text:
        return _security_page(request, db, info, status=409, error=problem_text)
    if totp.is_enabled(db, info.user_id):
        totp.disable(db, info.user_id)
        audit.record(db, _actor(request, info), "mfa.totp.disabled", _target(info))
        _last_factor_gone(db, request, info)
        db.commit()
    return RedirectResponse("/account/security?done=totp-off", status_code=303)


def _recovery_codes_page(request: Request, codes: list[str], *, first: bool = False) -> Response:
    return render(
        request,
        "recovery_codes.html",
        active="account-security",
        page_title="Your recovery codes",
        codes=codes,
        first=first,
    )


@router.post("/account/security/recovery")
def security_recovery(request: Request, db: Db, info: PageUser) -> Response:
    if not has_second_factor(db, info.user_id):
        return _security_page(
            request,
            db,
            info,
            status=409,
            error="Set up an authenticator app or a security key first: recovery codes stand "
            "in for one of them.",
        )
    return _recovery_codes_page(request, _regenerate(db, request, info))


@router.post("/account/security/keys/{key_id}/rename")
def security_key_rename(
    request: Request, db: Db, info: PageUser, key_id: int, name: Annotated[str, Form()] = ""
) -> Response:
    key = security_keys.get_key(db, info.user_id, key_id)
    if key is None:
        raise NotFoundError("no such security key")
    before = key.name
    security_keys.rename(db, info.user_id, key_id, name)
    if key.name != before:
        audit.record(
            db,
            _actor(request, info),
            "mfa.key.renamed",
            _target(info),
            {"name": {"before": before, "after": key.name}},
        )
    db.commit()
    return RedirectResponse("/account/security?done=key-renamed", status_code=303)


@router.post("/account/security/keys/{key_id}/remove")
def security_key_remove(request: Request, db: Db, info: PageUser, key_id: int) -> Response:
    if security_keys.get_key(db, info.user_id, key_id) is None:
        raise NotFoundError("no such security key")
    problem_text = _factor_problem(db, info, "key")
    if problem_text:
        return _security_page(request, db, info, status=409, error=problem_text)
    key = security_keys.remove(db, info.user_id, key_id)
    assert key is not None
    audit.record(db, _actor(request, info), "mfa.key.removed", _target(info), {"name": key.name})
    _last_factor_gone(db, request, info)
    db.commit()
    return RedirectResponse("/account/security?done=key-removed", status_code=303)


@router.post("/account/security/webauthn/options")
def security_webauthn_options(request: Request, db: Db, info: ApiUser) -> Response:
    return _registration_options(request, db, info)


@router.post("/account/security/webauthn/verify")
def security_webauthn_verify(request: Request, db: Db, info: ApiUser, payload: Payload) -> Response:
    return _registration_verify(request, db, info, payload, "/account/security?done=key-added")
