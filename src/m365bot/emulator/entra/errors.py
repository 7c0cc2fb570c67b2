"""Entra ID's error format and the AADSTS codes the emulator answers with.

Token-endpoint errors are JSON (identity-and-graph-facts.md §1.3)::

    {"error": "invalid_client",
     "error_description": "AADSTS7000215: Invalid client secret provided. ...\\r\\n"
         "Trace ID: ...\\r\\nCorrelation ID: ...\\r\\nTimestamp: 2026-11-26 10:00:00Z",
     "error_codes": [7000215], "timestamp": "2026-11-26 10:00:00Z",
     "trace_id": "...", "correlation_id": "...",
     "error_uri": "https://login.microsoftonline.com/error?code=7000215"}

Handlers raise :class:`EntraError`; ``token.py`` renders JSON, ``authorize.py`` renders a
redirect (``error`` + ``error_description``) or an error page.

Example::

    raise missing_parameter("grant_type")
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from starlette.responses import JSONResponse

from m365bot.emulator.errors import EmulatorError


class EntraError(EmulatorError):
    """An AADSTS error. ``status`` is the token endpoint's HTTP status for it."""

    def __init__(
        self,
        code: int,
        error: str,
        message: str,
        *,
        status: int = 400,
        suberror: str | None = None,
    ) -> None:
        super().__init__(f"AADSTS{code}: {message}")
        self.code = code
        self.error = error
        self.message = message
        self.status = status
        self.suberror = suberror

    def body(
        self, *, now: float, correlation_id: str | None = None, login_host: str | None = None
    ) -> dict[str, Any]:
        """The JSON body Entra sends, with fresh trace and correlation ids."""
        stamp = format_timestamp(now)
        trace_id = str(uuid.uuid4())
        corr = correlation_id if _is_guid(correlation_id) else str(uuid.uuid4())
        desc = (
            f"AADSTS{self.code}: {self.message}\r\nTrace ID: {trace_id}\r\n"
            f"Correlation ID: {corr}\r\nTimestamp: {stamp}"
        )
        host = login_host or "login.microsoftonline.com"
        body: dict[str, Any] = {
            "error": self.error,
            "error_description": desc,
            "error_codes": [self.code],
            "timestamp": stamp,
            "trace_id": trace_id,
            "correlation_id": corr,
            "error_uri": f"https://{host}/error?code={self.code}",
        }
        if self.suberror:
            body["suberror"] = self.suberror
        return body

    def response(
        self, *, now: float, correlation_id: str | None = None, login_host: str | None = None
    ) -> JSONResponse:
        body = self.body(now=now, correlation_id=correlation_id, login_host=login_host)
        headers = {
            "Cache-Control": "no-store, no-cache",
            "Pragma": "no-cache",
            "x-ms-request-id": body["trace_id"],
            "client-request-id": body["correlation_id"],
        }
        if self.status == 401:
            headers["WWW-Authenticate"] = 'Basic realm=""'
        return JSONResponse(body, status_code=self.status, headers=headers)


def format_timestamp(now: float) -> str:
    """Entra's ``YYYY-MM-DD HH:MM:SSZ``."""
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(now))


def _is_guid(value: str | None) -> bool:
    if not value:
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


# -- the codes -------------------------------------------------------------------------------


def malformed(detail: str = "") -> EntraError:
    """AADSTS9002313: the body could not be read as a token request."""
    msg = "Invalid request. Request is malformed or invalid."
    return EntraError(9002313, "invalid_request", msg + (f" {detail}" if detail else ""))


def missing_parameter(name: str) -> EntraError:
    return EntraError(
        900144,
        "invalid_request",
        f"The request body must contain the following parameter: '{name}'.",
    )


def post_only(method: str) -> EntraError:
    return EntraError(
        900561,
        "invalid_request",
        f"The endpoint only accepts POST, OPTIONS requests. Received a {method} request.",
    )


def unsupported_grant_type(grant: str) -> EntraError:
    return EntraError(
        70003,
        "unsupported_grant_type",
        f"The app requested an unsupported grant type '{grant}'.",
    )


def invalid_scope(scope: str, reason: str = "") -> EntraError:
    msg = (
        "The provided value for the input parameter 'scope' is not valid. "
        f"The scope {scope} is not valid."
    )
    return EntraError(70011, "invalid_scope", msg + (f" {reason}" if reason else ""))


def invalid_resource(resource: str, tenant_name: str) -> EntraError:
    return EntraError(
        500011,
        "invalid_resource",
        f"The resource principal named {resource} was not found in the tenant named "
        f"{tenant_name}. This can happen if the application has not been installed by the "
        "administrator of the tenant or consented to by any user in the tenant. You might have "
        "sent your authentication request to the wrong tenant.",
    )


def tenant_not_found(tenant: str) -> EntraError:
    return EntraError(
        90002,
        "invalid_tenant",
        f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are "
        "signing into the correct cloud. Check with your subscription administrator, this may "
        "happen if there are no active subscriptions for the tenant.",
    )


def app_not_found(client_id: str, tenant: str) -> EntraError:
    return EntraError(
        700016,
        "unauthorized_client",
        f"Application with identifier '{client_id}' was not found in the directory '{tenant}'. "
        "This can happen if the application has not been installed by the administrator of the "
        "tenant or consented to by any user in the tenant. You may have sent your authentication "
        "request to the wrong tenant.",
    )


def invalid_secret(client_id: str) -> EntraError:
    return EntraError(
        7000215,
        "invalid_client",
        "Invalid client secret provided. Ensure the secret being sent in the request is the "
        "client secret value, not the client secret ID, for a secret added to app "
        f"'{client_id}'.",
        status=401,
    )


def expired_secret(client_id: str, secret_id: str) -> EntraError:
    return EntraError(
        7000222,
        "invalid_client",
        f"The provided client secret keys for app '{client_id}' are expired. Visit the Azure "
        f"portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider "
        f"using certificate credentials for added security: https://aka.ms/certCreds. "
        f"(secret id {secret_id})",
        status=401,
    )


def no_credential() -> EntraError:
    return EntraError(
        7000218,
        "invalid_client",
        "The request body must contain the following parameter: 'client_assertion' or "
        "'client_secret'.",
        status=401,
    )


def public_client_secret() -> EntraError:
    return EntraError(
        700025,
        "invalid_client",
        "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
    )


def bad_assertion(reason: str) -> EntraError:
    return EntraError(
        700027,
        "invalid_client",
        f"Client assertion failed signature validation. [Reason - {reason}]",
        status=401,
    )


def reply_url_mismatch(redirect_uri: str, client_id: str) -> EntraError:
    return EntraError(
        50011,
        "invalid_request",
        f"The redirect URI '{redirect_uri}' specified in the request does not match the redirect "
        f"URIs configured for the application '{client_id}'. Make sure the redirect URI sent in "
        "the request matches one added to your application in the Azure portal. Navigate to "
        "https://aka.ms/redirectUriMismatchError to learn more about how to fix this.",
    )


def consent_required(client_id: str, app_name: str) -> EntraError:
    return EntraError(
        65001,
        "invalid_grant",
        f"The user or administrator has not consented to use the application with ID "
        f"'{client_id}' named '{app_name}'. Send an interactive authorization request for this "
        "user and resource.",
        suberror="consent_required",
    )


def code_expired() -> EntraError:
    return EntraError(
        70008,
        "invalid_grant",
        "The provided authorization code or refresh token has expired due to inactivity. Send a "
        "new interactive authorization request for this user and resource.",
    )


def code_redeemed() -> EntraError:
    return EntraError(
        54005,
        "invalid_grant",
        "OAuth2 Authorization code was already redeemed, please retry with a new valid code or "
        "use an existing refresh token.",
    )


def verifier_mismatch() -> EntraError:
    return EntraError(
        50148,
        "invalid_grant",
        "The code_verifier does not match the code_challenge supplied in the authorization "
        "request for PKCE.",
    )


def verifier_missing() -> EntraError:
    return EntraError(
        501481,
        "invalid_grant",
        "The Code_Verifier does not match the code_challenge supplied in the authorization "
        "request.",
    )


def refresh_inactive(issued_iso: str) -> EntraError:
    return EntraError(
        700082,
        "invalid_grant",
        f"The refresh token has expired due to inactivity. The token was issued on {issued_iso} "
        "and was inactive for 90.00:00:00.",
    )


def refresh_revoked(issued_iso: str, valid_from_iso: str) -> EntraError:
    return EntraError(
        50173,
        "invalid_grant",
        "The provided grant has expired due to it being revoked, a fresh auth token is needed. "
        "The user might have changed or reset their password. The grant was issued on "
        f"'{issued_iso}' and the TokensValidFrom date (before which tokens are not valid) for "
        f"this user is '{valid_from_iso}'.",
    )


def invalid_grant(detail: str) -> EntraError:
    return EntraError(70000, "invalid_grant", f"Provided grant is invalid or malformed. {detail}")


def bad_password() -> EntraError:
    return EntraError(
        50126, "invalid_grant", "Error validating credentials due to invalid username or password."
    )


def user_not_in_tenant(upn: str, tenant_name: str) -> EntraError:
    return EntraError(
        50034,
        "invalid_grant",
        f"The user account {upn} does not exist in the {tenant_name} directory. To sign into "
        "this application, the account must be added to the directory.",
    )


def authorization_pending() -> EntraError:
    return EntraError(
        70016,
        "authorization_pending",
        "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
    )


def device_code_expired() -> EntraError:
    return EntraError(
        70020,
        "expired_token",
        "The provided value for the input parameter 'device_code' is expired.",
    )


def login_required() -> EntraError:
    return EntraError(
        50058,
        "login_required",
        "A silent sign-in request was sent but no user is signed in.",
    )


def unsupported_response_type(value: str) -> EntraError:
    return EntraError(
        700051,
        "unsupported_response_type",
        f"response_type '{value}' is not enabled for the application.",
    )
