"""Administration pages (administrators only): users, roles, API keys, the audit log.

A form that fails answers the same page with the error (``role="alert"``) and the
error's status (400, 404, 409); a form that works answers the page with a note. Nothing
changes when a form fails.

* ``/admin/users``: create users; per user: roles, administrator, disabled, unlock, password;
* ``/admin/roles``: create roles (what lockers and OAuth connections are shared with);
* ``/admin/api-keys``: create a runner's key (shown once), revoke;
* ``/admin/audit``: the audit log, filtered by actor, action, target and time.
"""

from __future__ import annotations

import datetime as dt

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from m365bot.controlroom import accounts, apikeys, audit
from m365bot.controlroom.errors import BadInput, status_of
from m365bot.controlroom.server.forms import answer, checkbox
from m365bot.controlroom.server.pages import render
from m365bot.controlroom.server.security import client_ip, form_of, require_admin, state
from m365bot.errors import ConfigError
from m365bot.values import Secret

# -- users ------------------------------------------------------------------------------

def users_page(request: Request, *, error: str = "", flash: str = "",
               status: int = 200) -> Response:
    """The users page."""
    require_admin(request)
    db = state(request).db
    return render(request, "admin_users.html", status=status, error=error, flash=flash,
                  users=accounts.list_users(db), role_names=sorted(accounts.role_names(db)),
                  now=accounts.now())


def create_user(request: Request) -> Response:
    """Create a user (name, password, password again, administrator)."""
    admin = require_admin(request)
    form = form_of(request)

    def act() -> str:
        if form.get("password", "") != form.get("password2", ""):
            raise BadInput("the two passwords differ", field="password2",
                           advice="type the same password twice")
        user = accounts.create_user(state(request).db, form.get("name", ""),
                                    Secret(form.get("password", "")),
                                    is_admin=checkbox(form, "is_admin"), by=admin.name,
                                    ip=client_ip(request))
        return f"User {user.name} created."

    return answer(request, users_page, act)


_USER_ACTIONS = ("make_admin", "remove_admin", "disable", "enable", "unlock", "password",
                 "add_role", "remove_role")


def change_user(request: Request) -> Response:
    """One change to a user: ``action`` is one of make_admin, remove_admin, disable,
    enable, unlock, password (+ password, password2), add_role / remove_role (+ role)."""
    admin = require_admin(request)
    name = request.path_params["name"]
    form = form_of(request)
    db, ip = state(request).db, client_ip(request)

    def act() -> str:
        action = form.get("action", "")
        accounts.get_user(db, name)  # 404 first for an unknown user
        if action not in _USER_ACTIONS:
            raise BadInput(f"unknown action {action[:40]!r}", field="action",
                           advice=f"use one of: {', '.join(_USER_ACTIONS)}")
        if action in ("add_role", "remove_role"):
            role = form.get("role", "").strip()
            if not role:
                raise BadInput("no role chosen", field="role", advice="pick a role")
            change = accounts.assign_role if action == "add_role" else accounts.unassign_role
            change(db, name, role, by=admin.name, ip=ip)
            return f"Roles of {name} changed."
        if action == "password":
            if form.get("password", "") != form.get("password2", ""):
                raise BadInput("the two passwords differ", field="password2",
                               advice="type the same password twice")
            accounts.update_user(db, name, by=admin.name, ip=ip,
                                 password=Secret(form.get("password", "")))
            return f"Password of {name} changed."
        flags = {"make_admin": {"is_admin": True}, "remove_admin": {"is_admin": False},
                 "disable": {"disabled": True}, "enable": {"disabled": False},
                 "unlock": {"unlock": True}}[action]
        accounts.update_user(db, name, by=admin.name, ip=ip, **flags)  # type: ignore[arg-type]
        return f"User {name} changed ({action.replace('_', ' ')})."

    return answer(request, users_page, act)


# -- roles ------------------------------------------------------------------------------

def roles_page(request: Request, *, error: str = "", flash: str = "",
               status: int = 200) -> Response:
    """The roles page."""
    require_admin(request)
    return render(request, "admin_roles.html", status=status, error=error, flash=flash,
                  roles=accounts.list_roles(state(request).db))


def create_role(request: Request) -> Response:
    """Create a role (name, description)."""
    admin = require_admin(request)
    form = form_of(request)

    def act() -> str:
        accounts.create_role(state(request).db, form.get("name", ""),
                             description=form.get("description", ""), by=admin.name,
                             ip=client_ip(request))
        return f"Role {form.get('name', '').strip()} created."

    return answer(request, roles_page, act)


# -- API keys ---------------------------------------------------------------------------

def keys_page(request: Request, *, error: str = "", flash: str = "", new_key: str = "",
              status: int = 200) -> Response:
    """The API keys page; ``new_key`` is shown once, right after creation."""
    require_admin(request)
    db = state(request).db
    return render(request, "admin_keys.html", status=status, error=error, flash=flash,
                  keys=apikeys.list_keys(db), new_key=new_key,
                  user_names=[u.name for u in accounts.list_users(db)],
                  role_names=sorted(accounts.role_names(db)))


def create_key(request: Request) -> Response:
    """Create a runner's API key (name, run_as, bots, roles); the key is shown once."""
    admin = require_admin(request)
    form = form_of(request)

    def act() -> tuple[str, Secret]:
        info, key = apikeys.create(state(request).db, form.get("name", ""),
                                   run_as=form.get("run_as", ""), bots=form.get("bots", ""),
                                   roles_=form.get("roles", ""), by=admin.name,
                                   ip=client_ip(request))
        return (f"API key {info.name} created. Copy it now: it is not shown again.", key)

    return answer(request, keys_page, act)


def revoke_key(request: Request) -> Response:
    """Revoke a key."""
    admin = require_admin(request)

    def act() -> str:
        key = apikeys.revoke(state(request).db, request.path_params["name"], by=admin.name,
                             ip=client_ip(request))
        return f"API key {key.name} revoked."

    return answer(request, keys_page, act)


# -- audit ------------------------------------------------------------------------------

def _when(text: str, field: str) -> dt.datetime | None:
    if not text:
        return None
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise BadInput(f"{field} {text[:40]!r} is not a date and time", field=field,
                       advice="use the form 2026-11-27 or 2026-11-27T16:30") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def audit_page(request: Request) -> Response:
    """The audit log with its filter form (GET: actor, action, target, since, until,
    limit)."""
    require_admin(request)
    q = request.query_params
    filters = {k: q.get(k, "")[:200] for k in ("actor", "action", "target", "since", "until",
                                                "limit")}
    try:
        limit_text = filters["limit"] or "200"
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= 5000:
            raise BadInput(f"limit {limit_text[:20]!r} is not a number from 1 to 5000",
                           field="limit", advice="use e.g. 200")
        rows = audit.query(state(request).db, actor=filters["actor"].strip(),
                           action=filters["action"].strip(), target=filters["target"].strip(),
                           since=_when(filters["since"].strip(), "since"),
                           until=_when(filters["until"].strip(), "until"),
                           limit=int(limit_text))
    except ConfigError as exc:
        return render(request, "admin_audit.html", status=status_of(exc), error=str(exc),
                      rows=[], filters=filters)
    return render(request, "admin_audit.html", rows=rows, filters=filters, error="")


routes: list[BaseRoute] = [
    Route("/admin/users", users_page, methods=["GET"]),
    Route("/admin/users", create_user, methods=["POST"]),
    Route("/admin/users/{name}", change_user, methods=["POST"]),
    Route("/admin/roles", roles_page, methods=["GET"]),
    Route("/admin/roles", create_role, methods=["POST"]),
    Route("/admin/api-keys", keys_page, methods=["GET"]),
    Route("/admin/api-keys", create_key, methods=["POST"]),
    Route("/admin/api-keys/{name}/revoke", revoke_key, methods=["POST"]),
    Route("/admin/audit", audit_page, methods=["GET"]),
]
