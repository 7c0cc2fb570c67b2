"""The Credential Vault in the Control Room: lockers, credentials and "Credential
requests", with the locker roles enforced for the signed-in user.

The server opens the vault kept in its own database once, unlocked with the master key
given at start (``--vault-key-file`` or ``M365BOT_VAULT_KEY``), and takes a view of it per
request for the signed-in user and their Control Room roles
(:meth:`m365bot.vault.Vault.acting_as`); locker members are user names or ``role:NAME``.

No page ever shows a value: values are written through forms and reach bots only through
the runner API (:mod:`m365bot.controlroom.server.vault_api`). What each locker role may do
is the vault's own rule (owners and managers: everything in the locker, managers add only
consumers; participants: their own credentials; consumers: fill in their own
user-provided values under Credential requests).

* ``GET /vault/lockers``: my lockers, and a form to create one (I become its owner);
* ``GET /vault/locker?name=L``: its credentials and members, with the forms my role allows;
* ``POST /vault/lockers``, ``/vault/locker/members``, ``/vault/locker/members/remove``,
  ``/vault/locker/credentials``, ``/vault/locker/values``, ``/vault/locker/credentials/delete``;
* ``GET /vault/requests``, ``POST /vault/requests``: Credential requests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from m365bot.controlroom import accounts
from m365bot.controlroom.errors import BadInput, NotFound
from m365bot.controlroom.server.config import ServerConfig
from m365bot.controlroom.server.forms import answer, checkbox, required
from m365bot.controlroom.server.pages import error_page, render
from m365bot.controlroom.server.security import (
    audit_here,
    form_of,
    require_user,
    state,
)
from m365bot.errors import M365BotError
from m365bot.values import Secret
from m365bot.vault import AttributeSpec
from m365bot.vault.roles import ROLES


class VaultUnavailable(M365BotError):
    """503: the server was started without the vault's master key."""

    status = 503


def open_server_vault(config: ServerConfig) -> Any:
    """The vault in the server's database, unlocked with ``config.vault_key``
    (initialized with it when new)."""
    from m365bot.vault import Vault

    assert config.vault_key is not None
    vault = Vault.open(config.db, actor="controlroom")
    try:
        source = config.vault_key
        material: dict[str, Any] = ({"key": source.raw_key()} if source.kind == "raw"
                                    else {"passphrase": source.material})
        if vault.initialized:
            vault.unlock(**material)
        else:
            vault.initialize(**material)
    except BaseException:
        vault.close()
        raise
    return vault


def vault_as(request: Request, name: str, roles: tuple[str, ...]) -> Any:
    """The server's vault seen by ``name`` with ``roles`` (503 when it is locked)."""
    vault = state(request).vault
    if vault is None:
        raise VaultUnavailable(
            "the Credential Vault is locked on this server",
            advice="start the server with --vault-key-file (or M365BOT_VAULT_KEY)")
    return vault.acting_as(name, roles=roles)


def _mine(request: Request) -> Any:
    """The vault seen by the signed-in user, with their roles."""
    user = require_user(request)
    return vault_as(request, user.name, user.roles)


# -- lockers ----------------------------------------------------------------------------

def lockers_page(request: Request, *, error: str = "", flash: str = "",
                 status: int = 200) -> Response:
    """My lockers and my role in each."""
    vault = _mine(request)
    return render(request, "vault_lockers.html", status=status, error=error, flash=flash,
                  lockers=vault.list_lockers())


def create_locker(request: Request) -> Response:
    """Create a locker; the signed-in user becomes its owner."""
    vault = _mine(request)
    form = form_of(request)

    def act() -> str:
        name = required(form, "name", "locker name")
        vault.create_locker(name)
        audit_here(request, action="locker.create", target=name.lower())
        return f"Locker {name.lower()} created."

    return answer(request, lockers_page, act)


def locker_page(request: Request, *, locker: str = "", error: str = "", flash: str = "",
                status: int = 200) -> Response:
    """One locker: its credentials (the ones my role may see) and its members."""
    vault = _mine(request)
    name = locker or request.query_params.get("name", "")
    if not name:
        raise BadInput("no locker named", field="name",
                       advice="open a locker from Credentials (/vault/lockers)")
    info = next((lk for lk in vault.list_lockers() if lk.name == name.lower()), None)
    if info is None:
        raise NotFound(f"you are not a member of a locker named {name[:100]!r}",
                       field="name", advice="pick one of your lockers")
    credentials = vault.list_credentials(info.name)
    return render(request, "vault_locker.html", status=status, error=error, flash=flash,
                  locker=info, credentials=credentials, locker_roles=ROLES,
                  role_names=sorted(accounts.role_names(state(request).db)))


def _locker_action(request: Request, action: Callable[[Any, dict[str, str], str], str]
                   ) -> Response:
    vault = _mine(request)
    form = form_of(request)
    locker = required(form, "locker", "locker name")

    def act() -> str:
        return action(vault, form, locker)

    def page(request: Request, *, error: str = "", status: int = 200, **kw: Any) -> Response:
        try:
            return locker_page(request, error=error, status=status, **kw)
        except M365BotError:
            # Not a member (any more): the page cannot be shown; the refusal still is.
            return error_page(request, status, error)

    return answer(request, page, act, locker=locker)


def _member(form: dict[str, str], request: Request) -> str:
    kind = form.get("kind", "user")
    name = accounts.check_name(form.get("member", ""), "member")
    db = state(request).db
    if kind == "role":
        if name not in accounts.role_names(db):
            raise NotFound(f"there is no role named {name!r}", field="member",
                           advice="create the role under Administration > Roles")
        return f"role:{name}"
    if kind != "user":
        raise BadInput(f"the member kind {kind[:20]!r} is neither user nor role", field="kind",
                       advice="choose user or role")
    accounts.get_user(db, name)  # NotFound for an unknown user
    return name


def add_member(request: Request) -> Response:
    """Add (or change) a locker member: a user or a role, with a locker role."""
    def act(vault: Any, form: dict[str, str], locker: str) -> str:
        member = _member(form, request)
        role = form.get("role", "")
        vault.add_member(locker, member, role)
        audit_here(request, action="locker.member.add", target=f"{locker.lower()}",
                   detail=f"{member}={role}")
        return f"{member} is now {role} of {locker.lower()}."

    return _locker_action(request, act)


def remove_member(request: Request) -> Response:
    """Remove a locker member (owners only; a locker keeps one owner)."""
    def act(vault: Any, form: dict[str, str], locker: str) -> str:
        member = required(form, "member", "member")
        vault.remove_member(locker, member)
        audit_here(request, action="locker.member.remove", target=locker.lower(),
                   detail=member)
        return f"{member} removed from {locker.lower()}."

    return _locker_action(request, act)


def write_credential(request: Request) -> Response:
    """Create a credential or add/change one attribute of it (value optional)."""
    def act(vault: Any, form: dict[str, str], locker: str) -> str:
        credential = required(form, "credential", "credential name")
        attribute = required(form, "attribute", "attribute name")
        value = form.get("value", "")
        user_provided = checkbox(form, "user_provided")
        if user_provided and value:
            raise BadInput("a user-provided attribute has no value of its own", field="value",
                           advice="leave the value empty: each consumer fills in theirs "
                           "under Credential requests")
        description = form.get("description", "")
        if len(description) > 500:
            raise BadInput("the description is longer than 500 characters",
                           field="description", advice="shorten it")
        spec = AttributeSpec(Secret(value) if value else None,
                             masked=checkbox(form, "masked"), user_provided=user_provided)
        vault.set_credential(locker, credential, {attribute: spec}, description=description)
        audit_here(request, action="credential.write",
                   target=f"{locker.lower()}/{credential.lower()}/{attribute.lower()}",
                   detail="with value" if value else "no value")
        return f"Credential {credential.lower()} saved."

    return _locker_action(request, act)


def set_value(request: Request) -> Response:
    """Set one attribute's value (standard: owners, managers, own participant)."""
    def act(vault: Any, form: dict[str, str], locker: str) -> str:
        credential = required(form, "credential", "credential name")
        attribute = required(form, "attribute", "attribute name")
        vault.set_attribute(locker, credential, attribute, Secret(form.get("value", "")))
        audit_here(request, action="credential.write",
                   target=f"{locker.lower()}/{credential.lower()}/{attribute.lower()}")
        return f"Value of {attribute.lower()} saved."

    return _locker_action(request, act)


def delete_credential(request: Request) -> Response:
    """Delete a credential and its values."""
    def act(vault: Any, form: dict[str, str], locker: str) -> str:
        credential = required(form, "credential", "credential name")
        vault.delete_credential(locker, credential)
        audit_here(request, action="credential.delete",
                   target=f"{locker.lower()}/{credential.lower()}")
        return f"Credential {credential.lower()} deleted."

    return _locker_action(request, act)


# -- credential requests ----------------------------------------------------------------

def _requests(vault: Any) -> list[tuple[str, str, Any]]:
    """(locker, credential, attribute info) for every user-provided attribute I may fill."""
    out: list[tuple[str, str, Any]] = []
    for lk in vault.list_lockers():
        for cred in vault.list_credentials(lk.name):
            out.extend((lk.name, cred.name, a) for a in cred.attributes if a.user_provided)
    return out


def requests_page(request: Request, *, error: str = "", flash: str = "",
                  status: int = 200) -> Response:
    """Credential requests: the user-provided attributes waiting for my own value."""
    vault = _mine(request)
    return render(request, "vault_requests.html", status=status, error=error, flash=flash,
                  requests=_requests(vault))


def fill_request(request: Request) -> Response:
    """Fill in my own value of a user-provided attribute."""
    vault = _mine(request)
    form = form_of(request)

    def act() -> str:
        locker = required(form, "locker", "locker name")
        credential = required(form, "credential", "credential name")
        attribute = required(form, "attribute", "attribute name")
        wanted = {(lk, c, a.name) for lk, c, a in _requests(vault)}
        if (locker.lower(), credential.lower(), attribute.lower()) not in wanted:
            raise NotFound(f"no credential request for {locker}/{credential}/{attribute}",
                           field="attribute", advice="pick a request from the list")
        vault.set_attribute(locker, credential, attribute, Secret(form.get("value", "")))
        audit_here(request, action="credential.fill",
                   target=f"{locker.lower()}/{credential.lower()}/{attribute.lower()}")
        return f"Your value of {attribute.lower()} is saved."

    return answer(request, requests_page, act)


routes: list[BaseRoute] = [
    Route("/vault/lockers", lockers_page, methods=["GET"]),
    Route("/vault/lockers", create_locker, methods=["POST"]),
    Route("/vault/locker", locker_page, methods=["GET"]),
    Route("/vault/locker/members", add_member, methods=["POST"]),
    Route("/vault/locker/members/remove", remove_member, methods=["POST"]),
    Route("/vault/locker/credentials", write_credential, methods=["POST"]),
    Route("/vault/locker/values", set_value, methods=["POST"]),
    Route("/vault/locker/credentials/delete", delete_credential, methods=["POST"]),
    Route("/vault/requests", requests_page, methods=["GET"]),
    Route("/vault/requests", fill_request, methods=["POST"]),
]
