"""Helpers for driving the emulator with unmodified msal and with plain httpx.

msal gets an ``http_client`` whose trust we control: a ``requests.Session`` with
``trust_env=False`` (so REQUESTS_CA_BUNDLE cannot override ``verify``), ``verify`` = the
emulator's CA, and the emulator's CONNECT proxy, so msal talks to the real Microsoft URLs.

Example::

    app = msal.ConfidentialClientApplication(cid, client_credential=secret,
        authority=f"https://login.microsoftonline.com/{tid}", instance_discovery=False,
        http_client=msal_http_client(info))
"""

from __future__ import annotations

import hashlib
import re
import ssl
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import requests

LOGIN = {
    "global": "login.microsoftonline.com",
    "usgovhigh": "login.microsoftonline.us",
    "dod": "login.microsoftonline.us",
    "china": "login.chinacloudapi.cn",
}
GRAPH = {
    "global": "https://graph.microsoft.com",
    "usgovhigh": "https://graph.microsoft.us",
    "dod": "https://dod-graph.microsoft.us",
    "china": "https://microsoftgraph.chinacloudapi.cn",
}


def msal_http_client(info: dict[str, Any]) -> requests.Session:
    """A requests.Session for msal: our CA, our proxy, nothing from the environment."""
    s = requests.Session()
    s.trust_env = False
    s.verify = info["ca_bundle"]
    s.proxies = {"https": info["proxy_url"]}
    return s


def http(info: dict[str, Any], **kw: Any) -> httpx.Client:
    """An httpx client that reaches the real hostnames through the emulator's proxy."""
    ctx = ssl.create_default_context(cafile=info["ca_bundle"])
    return httpx.Client(proxy=info["proxy_url"], verify=ctx, trust_env=False, timeout=20, **kw)


def tenant(info: dict[str, Any], cloud: str = "global") -> dict[str, Any]:
    return next(t for t in info["tenants"] if t["cloud"] == cloud)


def app(info: dict[str, Any], name: str, cloud: str = "global") -> dict[str, Any]:
    tid = tenant(info, cloud)["id"]
    return next(a for a in info["apps"] if a["tenant_id"] == tid and a["name"] == name)


def unconsented_app(info: dict[str, Any], cloud: str = "global") -> dict[str, Any]:
    """The demo's app with no consent at all (no roles, no delegated grants)."""
    tid = tenant(info, cloud)["id"]
    return next(
        a
        for a in info["apps"]
        if a["tenant_id"] == tid
        and not a["application_permissions"]
        and not any(v for v in (a["delegated_permissions"] or {}).values())
        and a["redirect_uris"]
    )


def user(info: dict[str, Any], name: str, cloud: str = "global") -> dict[str, Any]:
    tid = tenant(info, cloud)["id"]
    return next(
        u for u in info["users"] if u["tenant_id"] == tid and u["upn"].lower().startswith(name)
    )


def authority(info: dict[str, Any], cloud: str = "global", by: str = "domain") -> str:
    t = tenant(info, cloud)
    return f"https://{LOGIN[cloud]}/{t[by]}"


def sha1_thumbprint(cert_file: str) -> str:
    """Hex SHA-1 of a PEM certificate's DER, as the Azure portal shows it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    with open(cert_file, "rb") as fh:
        cert = x509.load_pem_x509_certificate(fh.read())
    return hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def _ctx(html: str) -> str:
    m = re.search(r'name="ctx" value="([^"]+)"', html)
    assert m, "page has no sign-in context"
    return m.group(1)


def _action(html: str, form_id: str) -> str:
    m = re.search(rf'<form method="post" action="([^"]+)" id="{form_id}"', html)
    assert m, f"page has no {form_id} form"
    return m.group(1)


def sign_in(
    client: httpx.Client,
    auth_uri: str,
    upn: str,
    password: str,
    *,
    accept_consent: bool = True,
) -> dict[str, str]:
    """Walk the HTML sign-in (and consent) pages like a user; return the redirect's params.

    Stops at the first redirect to the app (a loopback URI nobody listens on) and parses
    its query, or at an auto-posting form_post page and parses its hidden fields.
    """
    base = f"{urlsplit(auth_uri).scheme}://{urlsplit(auth_uri).netloc}"
    r = client.get(auth_uri)
    for _ in range(6):
        if r.status_code in (302, 303):
            loc = r.headers["location"]
            return {k: v[0] for k, v in parse_qs(urlsplit(loc).query).items()}
        assert r.status_code == 200, r.text
        html = r.text
        if 'id="signin"' in html:
            r = client.post(
                base + _action(html, "signin"),
                data={"ctx": _ctx(html), "login": upn, "passwd": password},
            )
        elif 'id="consent"' in html:
            r = client.post(
                base + _action(html, "consent"),
                data={"ctx": _ctx(html), "accept": "yes" if accept_consent else "no"},
            )
        elif 'id="picker"' in html:
            r = client.post(
                base + _action(html, "picker"), data={"ctx": _ctx(html), "choice": "session"}
            )
        elif "document.forms[0].submit()" in html:
            fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', html)
            import html as htmllib

            return {k: htmllib.unescape(v) for k, v in fields}
        else:
            raise AssertionError("unexpected page: " + html[:500])
    raise AssertionError("sign-in did not finish")


def pkce_pair(method: str = "S256") -> tuple[str, str]:
    """(verifier, challenge) per RFC 7636."""
    import base64
    import secrets

    verifier = secrets.token_urlsafe(48)
    if method == "plain":
        return verifier, verifier
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_url(
    info: dict[str, Any], client_id: str, scope: str, cloud: str = "global", **params: str
) -> str:
    from urllib.parse import urlencode

    q = {
        "client_id": client_id,
        "response_type": "code",
        "redirect_uri": "http://localhost:8400",
        "scope": scope,
        "state": "s-123",
        **params,
    }
    return f"{authority(info, cloud)}/oauth2/v2.0/authorize?{urlencode(q)}"


def get_code(
    info: dict[str, Any],
    client: httpx.Client,
    client_id: str,
    who: dict[str, Any],
    scope: str,
    cloud: str = "global",
    method: str = "S256",
) -> tuple[str, str]:
    """Sign ``who`` in through the pages; return (code, verifier) for redirect localhost:8400."""
    verifier, challenge = pkce_pair(method)
    url = authorize_url(
        info, client_id, scope, cloud, code_challenge=challenge, code_challenge_method=method
    )
    params = sign_in(client, url, who["upn"], who["password"])
    assert "code" in params, params
    return params["code"], verifier


def valid_secret(app_info: dict[str, Any]) -> str:
    """The first secret of an app that has not expired (the demo also has an expired one)."""
    import time

    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return str(next(s["value"] for s in app_info["secrets"] if s["expires"] > now))
