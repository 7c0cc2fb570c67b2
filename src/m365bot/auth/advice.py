"""Turn the identity platform's error answers (msal result dicts) into m365bot errors with advice.

Called once, at the boundary where msal hands back a result; nothing else looks at msal's
dicts. ``invalid_grant`` for an expired or revoked sign-in (AADSTS700082, 70008, 50173...)
becomes :class:`~m365bot.errors.ReauthRequired`; everything else an
:class:`~m365bot.errors.AuthError` whose ``advice`` says what to fix.

Example::

    from m365bot.auth.advice import error_from_result
    result = app.acquire_token_for_client(scopes)
    if "error" in result:
        raise error_from_result(result, cloud=cloud, tenant=tid, client_id=cid)
"""

from __future__ import annotations

import json
import re
from typing import Any

from m365bot.errors import AuthError, ReauthRequired

_AADSTS = re.compile(r"AADSTS(\d+)")
# AADSTS90033: "A transient error has occurred. Please try again."
TRANSIENT_CODES = {"90033"}
UNAVAILABLE_FIX = (
    "the identity platform had a transient failure (Microsoft's side, not your settings): "
    "try again in a minute; if it persists, check the Azure status page or the Microsoft 365 "
    "service health"
)
REAUTH_CODES = {"700082", "70008", "50173", "70043", "700084", "50078", "50076", "50079",
                "54005", "70000"}
_REAUTH_FIX = (
    "run `m365bot connect ... --interactive` (or use Login under My settings > OAuth "
    "connections in the Control Room) to sign in again"
)


def aadsts_code(result: dict[str, Any]) -> str:
    """The first AADSTS number of an error result ('' if none)."""
    codes = result.get("error_codes")
    if isinstance(codes, list) and codes:
        return str(codes[0])
    m = _AADSTS.search(str(result.get("error_description") or ""))
    return m.group(1) if m else ""


SUMMARY_MAX = 300


def _summary(result: dict[str, Any]) -> str:
    """The first line of error_description (no trace/correlation ids), capped at
    ``SUMMARY_MAX`` characters between two words (never mid-word), ending in '...'."""
    desc = str(result.get("error_description") or "").replace("\r", "\n").split("\n")[0]
    desc = desc.strip()
    if len(desc) <= SUMMARY_MAX:
        return desc
    cut = desc[:SUMMARY_MAX - 3]
    if not desc[SUMMARY_MAX - 3].isspace():
        cut = cut.rsplit(None, 1)[0] if " " in cut else ""
    return cut.rstrip(" ,;:") + "..."


def _advice_for(code: str, error: str, result: dict[str, Any], *, cloud: Any, tenant: str,
                client_id: str) -> tuple[str, bool]:
    """(advice, reauth) for an AADSTS code / OAuth error."""
    login = getattr(cloud, "login_host", "login.microsoftonline.com")
    label = getattr(cloud, "label", "Azure Global")
    if code == "7000215":
        return ("the client secret is wrong: use the secret's value, not its ID "
                "(Azure portal > App registrations > Certificates & secrets)", False)
    if code == "7000222":
        return ("the client secret has expired: create a new client secret in the Azure "
                "portal and store its value in the Credential Vault", False)
    if code in ("90002", "900023", "90023"):
        return (f"tenant {tenant!r} was not found on {login} ({label}): check the Tenant ID and "
                "the Azure cloud setting (GCC High tenants live on login.microsoftonline.us, "
                "Azure Global tenants on login.microsoftonline.com)", False)
    if code == "500011":
        return (f"the Graph resource of {label} is not available in tenant {tenant!r}: the "
                "tenant is probably in another Azure cloud; check the Azure cloud setting",
                False)
    if code == "700016":
        return (f"application {client_id!r} is not registered in tenant {tenant!r}: check the "
                "Client ID and Tenant ID, or have an administrator add the app to the tenant",
                False)
    if code == "65001" or result.get("suberror") == "consent_required":
        url = (f"https://{login}/{tenant}/adminconsent?client_id={client_id}")
        return (f"the permissions were not consented: an administrator must grant admin consent "
                f"(open {url} or use API permissions > Grant admin consent in the Azure "
                "portal)", False)
    if code == "50011":
        return ("the redirect URL does not match the app registration: add exactly this "
                "redirect URL under Authentication > Mobile and desktop applications", False)
    if code == "700025":
        return ("the app is a public client, so it takes no client secret or certificate: "
                "use Authorization Code with PKCE, or make the app confidential and use "
                "Client Credentials", False)
    if code in ("70011", "700022", "1002012") or error == "invalid_scope":
        return ("the requested scope is invalid for this app/cloud: client credentials need "
                "the cloud's Graph '.default' scope; check the Azure cloud setting", False)
    if code in ("7000218", "700027", "700023", "7000214", "700024"):
        return ("the client credential is missing or invalid: check the client secret or "
                "certificate (its thumbprint must be uploaded to the app registration)", False)
    if code in ("50126",):
        return ("the user name or password is wrong", False)
    if code in ("50020", "50034", "50053", "50057"):
        return ("the account cannot sign in to this tenant: check the username and that the "
                "account is enabled", False)
    if code in ("50194",):
        return ("the app is single-tenant: use its Tenant ID, not 'common'", False)
    if code in REAUTH_CODES or error in ("invalid_grant", "interaction_required",
                                         "login_required", "consent_required"):
        return (_REAUTH_FIX, True)
    if error == "invalid_client":
        return ("the client credential was refused: check the client secret or certificate",
                False)
    if error == "unauthorized_client":
        return ("this app may not use this sign-in method: check the app registration "
                "(public client flows, redirect URLs) and the Client ID", False)
    if code in TRANSIENT_CODES or error in ("temporarily_unavailable", "server_error"):
        return (UNAVAILABLE_FIX, False)
    return ("check the Client ID, Tenant ID, credentials and Azure cloud setting", False)


def error_from_result(
    result: dict[str, Any],
    *,
    cloud: Any = None,
    tenant: str = "",
    client_id: str = "",
) -> AuthError:
    """An :class:`AuthError` (or :class:`ReauthRequired`) for an msal error result.

    Example::

        err = error_from_result({"error": "invalid_client", "error_codes": [7000215]})
        err.code   # '7000215'
    """
    error = str(result.get("error") or "unknown_error")
    code = aadsts_code(result)
    advice, reauth = _advice_for(code, error, result, cloud=cloud, tenant=tenant,
                                 client_id=client_id)
    summary = _summary(result) or error
    label = f"AADSTS{code}" if code else error
    if summary.startswith(label):
        message = f"sign-in failed: {summary}"
    else:
        message = f"sign-in failed ({label}): {summary}"
    cls = ReauthRequired if reauth else AuthError
    return cls(message, code=code or error, advice=advice,
               correlation_id=str(result.get("correlation_id") or ""))


class IdentityUnavailable(AuthError):
    """The identity platform answered 5xx (AADSTS90033 ``temporarily_unavailable``, or a bare
    503): nothing is wrong with the request; retry later. ``retry_after`` is in seconds (0 when
    the answer did not say)."""

    def __init__(self, message: str, *, retry_after: float = 0.0, **kw: str) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


def identity_unavailable(status: int, text: str, headers: dict[str, str]) -> IdentityUnavailable:
    """The error for a 5xx answer of the identity platform (``headers``: lower-case names).

    Example::

        identity_unavailable(503, '{"error": "temporarily_unavailable", ...}', {})
    """
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    result = body if isinstance(body, dict) else {}
    code = aadsts_code(result) or str(result.get("error") or "") or f"HTTP{status}"
    detail = f"HTTP {status}" + (f", AADSTS{code}" if code.isdigit() else
                                 f", {code}" if not code.startswith("HTTP") else "")
    try:
        retry_after = max(0.0, float(headers.get("retry-after", "")))
    except ValueError:
        retry_after = 0.0
    return IdentityUnavailable(
        f"the identity platform is temporarily unavailable ({detail})", code=code,
        advice=UNAVAILABLE_FIX, correlation_id=str(result.get("correlation_id") or ""),
        retry_after=retry_after)


def reauth_required(reason: str, *, code: str = "interaction_required") -> ReauthRequired:
    """A :class:`ReauthRequired` with the standard sign-in-again advice."""
    return ReauthRequired(reason, code=code, advice=_REAUTH_FIX)


__all__ = ["REAUTH_CODES", "TRANSIENT_CODES", "UNAVAILABLE_FIX", "IdentityUnavailable",
           "aadsts_code", "error_from_result", "identity_unavailable", "reauth_required"]
