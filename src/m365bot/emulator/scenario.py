"""Scenario files: the tenants, apps, users and mailboxes an emulator starts with.

A scenario is YAML or JSON (format in docs/emulator.md); ``demo`` names the built-in one
(``scenarios/demo.yaml``). :func:`load_spec` reads and validates it (a :class:`ScenarioError`
names the bad field); :func:`build_state` turns it into a :class:`~m365bot.emulator.state.State`,
generating certificate files into the data folder (reused when present). Mailbox contents
(folders, messages, attachments, events) are handed to ``graph.seed.seed_mailbox``.

Ids are deterministic (uuid5 of the names) unless the file gives them, so the demo tenant,
apps and users have the same GUIDs on every machine.

Example::

    spec = load_spec("demo")
    state = build_state(spec, Path("/tmp/emu"), now=time.time())
"""

from __future__ import annotations

import datetime as dt
import importlib.resources
import json
import logging
import re
import uuid
from pathlib import Path
from typing import Any

import yaml

from m365bot.emulator import hosts
from m365bot.emulator.errors import ScenarioError
from m365bot.emulator.state import App, AppSecret, Grant, Mailbox, State, Tenant, User

log = logging.getLogger(__name__)

NAMESPACE = uuid.UUID("6d2f0c1e-3b7a-5e4f-9a1c-365b0700e001")
RIGHTS = ("FullAccess", "SendAs", "SendOnBehalf")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def stable_id(*parts: str) -> str:
    """A deterministic GUID for a scenario object. Example: ``stable_id("tenant", "contoso")``."""
    return str(uuid.uuid5(NAMESPACE, "/".join(p.lower() for p in parts)))


def load_spec(source: str | Path | dict[str, Any]) -> dict[str, Any]:
    """Read ``"demo"``, a file path, or an already-parsed dict, and validate it."""
    if isinstance(source, dict):
        data: Any = source
    elif str(source) == "demo":
        text = importlib.resources.files("m365bot.emulator").joinpath("scenarios/demo.yaml")
        data = yaml.safe_load(text.read_text(encoding="utf-8"))
    else:
        path = Path(source)
        if not path.is_file():
            raise ScenarioError(
                "scenario", f"{path} is not a file; give a YAML/JSON file or 'demo'"
            )
        try:
            text_ = path.read_text(encoding="utf-8")
            data = json.loads(text_) if path.suffix.lower() == ".json" else yaml.safe_load(text_)
        except (ValueError, yaml.YAMLError, UnicodeDecodeError) as exc:
            where = getattr(exc, "problem_mark", None)
            line = f" (line {where.line + 1})" if where is not None else ""
            raise ScenarioError("scenario", f"{path} is not valid YAML/JSON{line}") from None
    validate(data)
    return dict(data)


# -- validation ---------------------------------------------------------------------------------


def _check_keys(
    obj: Any, where: str, allowed: tuple[str, ...], required: tuple[str, ...] = ()
) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise ScenarioError(where, "expected a mapping")
    for key in obj:
        if key not in allowed:
            raise ScenarioError(f"{where}.{key}", f"unknown field; allowed: {', '.join(allowed)}")
    for key in required:
        if obj.get(key) in (None, ""):
            raise ScenarioError(f"{where}.{key}", "is required")
    return obj


def _list(obj: Any, where: str) -> list[Any]:
    if obj is None:
        return []
    if not isinstance(obj, list):
        raise ScenarioError(where, "expected a list")
    return obj


def _str(obj: Any, where: str) -> str:
    if not isinstance(obj, str) or not obj:
        raise ScenarioError(where, "expected a non-empty string")
    return obj


def _guid(obj: Any, where: str) -> str:
    if not isinstance(obj, str) or not _GUID.match(obj):
        raise ScenarioError(where, "expected a GUID like 00000000-0000-0000-0000-000000000000")
    return obj.lower()


TENANT_KEYS = (
    "name",
    "id",
    "cloud",
    "domain",
    "display_name",
    "extra_domains",
    "users",
    "shared_mailboxes",
    "apps",
)
USER_KEYS = ("name", "upn", "id", "password", "display_name", "enabled", "mailbox", "rest_enabled")
SHARED_KEYS = ("name", "address", "id", "display_name", "grants", "mailbox", "rest_enabled")
APP_KEYS = (
    "name",
    "client_id",
    "secrets",
    "certificates",
    "redirect_uris",
    "public_client",
    "application_permissions",
    "delegated_permissions",
    "access_policy",
)


def validate(data: Any) -> None:
    """Raise :class:`ScenarioError` naming the first bad field."""
    _check_keys(data, "scenario", ("name", "description", "tenants"), ("tenants",))
    names: set[str] = set()
    for i, t in enumerate(_list(data["tenants"], "tenants")):
        w = f"tenants[{i}]"
        _check_keys(t, w, TENANT_KEYS, ("name", "cloud", "domain"))
        name = _str(t["name"], f"{w}.name")
        if not _NAME.match(name) or name.lower() in names:
            raise ScenarioError(
                f"{w}.name", f"{name!r} must be unique and simple (letters, digits, . _ -)"
            )
        names.add(name.lower())
        if hosts.parse_cloud(t["cloud"]) is None:
            raise ScenarioError(
                f"{w}.cloud",
                f"{t['cloud']!r} is not a cloud; use one of global, gcc, gcchigh, dod, china "
                "(the names m365bot accepts)",
            )
        _str(t["domain"], f"{w}.domain")
        if "id" in t:
            _guid(t["id"], f"{w}.id")
        user_names: set[str] = set()
        for j, u in enumerate(_list(t.get("users"), f"{w}.users")):
            uw = f"{w}.users[{j}]"
            _check_keys(u, uw, USER_KEYS, ("name", "password"))
            user_names.add(_str(u["name"], f"{uw}.name").lower())
            _str(u["password"], f"{uw}.password")
            if "id" in u:
                _guid(u["id"], f"{uw}.id")
            if u.get("mailbox") not in (None, False) and not isinstance(u["mailbox"], dict):
                raise ScenarioError(
                    f"{uw}.mailbox", "expected a mapping (folders, messages, events) or false"
                )
        for j, s in enumerate(_list(t.get("shared_mailboxes"), f"{w}.shared_mailboxes")):
            sw = f"{w}.shared_mailboxes[{j}]"
            _check_keys(s, sw, SHARED_KEYS, ("name",))
            for k, g in enumerate(_list(s.get("grants"), f"{sw}.grants")):
                gw = f"{sw}.grants[{k}]"
                _check_keys(g, gw, ("user", "rights"), ("user", "rights"))
                if str(g["user"]).split("@")[0].lower() not in user_names:
                    raise ScenarioError(
                        f"{gw}.user", f"{g['user']!r} is not a user of tenant {name}"
                    )
                for right in _list(g["rights"], f"{gw}.rights"):
                    if right not in RIGHTS:
                        raise ScenarioError(
                            f"{gw}.rights", f"{right!r} is not one of {', '.join(RIGHTS)}"
                        )
            if s.get("mailbox") is not None and not isinstance(s["mailbox"], dict):
                raise ScenarioError(
                    f"{sw}.mailbox", "expected a mapping (folders, messages, events)"
                )
        for j, a in enumerate(_list(t.get("apps"), f"{w}.apps")):
            _validate_app(a, f"{w}.apps[{j}]", user_names)


def _validate_app(a: Any, aw: str, user_names: set[str]) -> None:
    _check_keys(a, aw, APP_KEYS, ("name",))
    _str(a["name"], f"{aw}.name")
    if "client_id" in a:
        _guid(a["client_id"], f"{aw}.client_id")
    for k, s in enumerate(_list(a.get("secrets"), f"{aw}.secrets")):
        sw = f"{aw}.secrets[{k}]"
        _check_keys(
            s, sw, ("id", "value", "expires", "expires_in_days", "display_name"), ("value",)
        )
        _str(s["value"], f"{sw}.value")
        if "expires" in s:
            _when(s["expires"], f"{sw}.expires")
        if "expires_in_days" in s and not isinstance(s["expires_in_days"], int | float):
            raise ScenarioError(
                f"{sw}.expires_in_days", "expected a number of days (negative: already expired)"
            )
    for k, c in enumerate(_list(a.get("certificates"), f"{aw}.certificates")):
        cw = f"{aw}.certificates[{k}]"
        _check_keys(c, cw, ("name", "expires_in_days"), ("name",))
        if not _NAME.match(str(c["name"])):
            raise ScenarioError(f"{cw}.name", "letters, digits, . _ - only (it names files)")
    for k, uri in enumerate(_list(a.get("redirect_uris"), f"{aw}.redirect_uris")):
        if not isinstance(uri, str) or "://" not in uri:
            raise ScenarioError(f"{aw}.redirect_uris[{k}]", "expected an absolute URI")
    if not isinstance(a.get("public_client", False), bool):
        raise ScenarioError(f"{aw}.public_client", "expected true or false")
    for k, p in enumerate(_list(a.get("application_permissions"), f"{aw}.application_permissions")):
        _str(p, f"{aw}.application_permissions[{k}]")
    dp = a.get("delegated_permissions") or {}
    if isinstance(dp, list):
        dp = {p: None for p in dp}
    if not isinstance(dp, dict):
        raise ScenarioError(
            f"{aw}.delegated_permissions", "expected a mapping permission -> admin | [users] | none"
        )
    for perm, who in dp.items():
        pw = f"{aw}.delegated_permissions.{perm}"
        if who in (None, "none", "admin"):
            continue
        for u in _list(who, pw):
            if str(u).split("@")[0].lower() not in user_names:
                raise ScenarioError(
                    pw, f"{u!r} is not a user of this tenant; use admin, none or user names"
                )
    policy = a.get("access_policy")
    if policy is not None:
        for k, m in enumerate(_list(policy, f"{aw}.access_policy")):
            _str(m, f"{aw}.access_policy[{k}]")


def _when(value: Any, where: str) -> float:
    if isinstance(value, dt.datetime):
        stamp = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return stamp.timestamp()
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC).timestamp()
    if isinstance(value, str):
        try:
            stamp = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return (stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)).timestamp()
    raise ScenarioError(where, "expected a date like 2030-01-01 or 2030-01-01T00:00:00Z")


# -- building -----------------------------------------------------------------------------------


def _address(name: str, domain: str) -> str:
    return (name if "@" in name else f"{name}@{domain}").lower()


def build_state(spec: dict[str, Any], data_dir: Path, now: float) -> State:
    """A fresh :class:`State` from a validated spec (see module example)."""

    state = State()
    seeds: list[tuple[Mailbox, dict[str, Any], str]] = []
    for ti, t in enumerate(spec["tenants"]):
        tid = str(t.get("id") or stable_id("tenant", t["name"]))
        tenant = Tenant(
            id=tid,
            cloud=hosts.parse_cloud(t["cloud"]) or "global",  # validated: never the default
            domain=t["domain"].lower(),
            display_name=t.get("display_name") or t["name"],
            extra_domains=[d.lower() for d in t.get("extra_domains") or []],
        )
        state.tenants[tid] = tenant
        users: dict[str, User] = {}
        for ui, u in enumerate(t.get("users") or []):
            upn = _address(u.get("upn") or u["name"], tenant.domain)
            user = User(
                id=str(u.get("id") or stable_id("user", tid, upn)),
                tenant_id=tid,
                upn=upn,
                password=str(u["password"]),
                display_name=u.get("display_name") or u["name"].title(),
                mail=upn,
                enabled=bool(u.get("enabled", True)),
            )
            state.users[user.id] = user
            users[u["name"].lower()] = user
            if u.get("mailbox") is not False:
                box = Mailbox(
                    id=user.id,
                    tenant_id=tid,
                    address=upn,
                    display_name=user.display_name,
                    kind="user",
                    enabled_for_rest=bool(u.get("rest_enabled", True)),
                )
                state.mailboxes[upn] = box
                seeds.append((box, u.get("mailbox") or {}, f"tenants[{ti}].users[{ui}].mailbox"))
        for si, s in enumerate(t.get("shared_mailboxes") or []):
            address = _address(s.get("address") or s["name"], tenant.domain)
            box = Mailbox(
                id=str(s.get("id") or stable_id("mailbox", tid, address)),
                tenant_id=tid,
                address=address,
                display_name=s.get("display_name") or s["name"].title(),
                kind="shared",
                enabled_for_rest=bool(s.get("rest_enabled", True)),
            )
            for g in s.get("grants") or []:
                holder = users[str(g["user"]).split("@")[0].lower()]
                box.grants.append(Grant(user_id=holder.id, rights=list(g["rights"])))
            state.mailboxes[address] = box
            where = f"tenants[{ti}].shared_mailboxes[{si}].mailbox"
            seeds.append((box, s.get("mailbox") or {}, where))
        for a in t.get("apps") or []:
            app = _build_app(a, tenant, users, data_dir, now)
            state.apps[app.client_id] = app
    _seed_mailboxes(state, seeds)
    return state


def _build_app(
    a: dict[str, Any], tenant: Tenant, users: dict[str, User], data_dir: Path, now: float
) -> App:
    from m365bot.emulator.appcerts import ensure_certificate

    cid = str(a.get("client_id") or stable_id("app", tenant.id, a["name"]))
    app = App(
        client_id=cid,
        tenant_id=tenant.id,
        display_name=a["name"],
        redirect_uris=list(a.get("redirect_uris") or []),
        public_client=bool(a.get("public_client", False)),
        application_permissions=list(a.get("application_permissions") or []),
        service_principal_id=stable_id("sp", tenant.id, cid),
    )
    for k, s in enumerate(a.get("secrets") or []):
        if "expires" in s:
            expires = _when(s["expires"], "expires")
        else:
            expires = now + float(s.get("expires_in_days", 730)) * 86400
        app.secrets.append(
            AppSecret(
                id=str(s.get("id") or stable_id("secret", cid, str(k))),
                value=str(s["value"]),
                expires=expires,
                display_name=s.get("display_name", ""),
            )
        )
    for c in a.get("certificates") or []:
        app.certificates.append(
            ensure_certificate(
                data_dir / "apps" / cid, c["name"], a["name"], int(c.get("expires_in_days", 365))
            )
        )
    dp = a.get("delegated_permissions") or {}
    if isinstance(dp, list):
        dp = {p: None for p in dp}
    for perm, who in dp.items():
        if who == "admin":
            app.delegated_permissions[perm] = "admin"
        elif who in (None, "none"):
            app.delegated_permissions[perm] = []
        else:
            app.delegated_permissions[perm] = [users[str(u).split("@")[0].lower()].upn for u in who]
    if a.get("access_policy") is not None:
        app.access_policy = [_address(m, tenant.domain) for m in a["access_policy"]]
    return app


def _seed_mailboxes(state: State, seeds: list[tuple[Mailbox, dict[str, Any], str]]) -> None:
    """Hand mailbox contents to graph.seed; its errors are reported with the scenario path."""
    try:
        seed_module = importlib.import_module("m365bot.emulator.graph.seed")
    except ModuleNotFoundError:
        seed_module = None
    except Exception:
        log.exception("graph.seed could not be imported; mailboxes start empty")
        seed_module = None
    for box, spec, where in seeds:
        if seed_module is None:
            continue
        try:
            seed_module.seed_mailbox(state, box, spec)
        except ScenarioError as exc:
            prefix = f"{box.address}.mailbox"
            field = exc.field
            if field.startswith(prefix):
                field = where + field[len(prefix) :]
            raise ScenarioError(field, exc.message) from None
        except Exception as exc:  # a seed bug must still not print a traceback at the CLI
            log.exception("seeding %s failed", box.address)
            raise ScenarioError(
                where, f"could not be seeded ({type(exc).__name__}: {exc})"
            ) from None
