"""Profile files: the saved connection options of ``m365bot profile``, as references only
(never a secret), in ``<data dir>/profiles/NAME.json`` (mode 600). The action commands read
them for ``--profile NAME`` (:mod:`m365bot.cli.outlook_common`); ``m365bot profile`` writes,
shows and deletes them (:mod:`m365bot.cli.profile`).

Example::

    save_profile(settings, "ops", references_only(opts))
    load_profile(settings, "ops")["username"]
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from m365bot.errors import ConfigError, NotFoundError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# what a profile keeps: the connection options of `m365bot connect` and the network/vault ones
FIELDS = ("cloud", "mode", "client_id", "tenant_id", "username", "mailbox", "client_secret",
          "redirect_url", "provider_type", "connection_name", "token_type", "interactive",
          "proxy", "ca_bundle", "emulator_info", "vault_loc", "key_file", "actor")
_FLAGS = {"client_secret": "--client-secret", "emulator_info": "--emulator",
          "vault_loc": "--vault"}


def option_flag(key: str) -> str:
    """The command-line flag of a profile field (``client_secret`` → ``--client-secret``)."""
    return _FLAGS.get(key, "--" + key.replace("_", "-"))


def check_profile_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"the profile name {name!r} is not valid", field="NAME",
                          advice="use 1-64 letters, digits, '.', '_' or '-', e.g. 'ops'")
    return name


def profile_path(settings: Any, name: str) -> Path:
    return Path(settings.data_dir) / "profiles" / f"{check_profile_name(name)}.json"


def references_only(opts: dict[str, Any]) -> dict[str, Any]:
    """The profile data from command options; ConfigError for anything that would put a
    secret in the file."""
    data: dict[str, Any] = {}
    for key in FIELDS:
        value = opts.get(key)
        if value is None or value == "":
            continue
        if isinstance(value, Path):
            value = str(value.expanduser().resolve())
        if isinstance(value, str) and value.startswith("insecure:"):
            flag = option_flag(key)
            raise ConfigError(f"{flag} is an insecure value; a profile holds references "
                              "only, never secrets", field=flag,
                              advice="store the value in the Credential Vault and give "
                              "credential:LOCKER/CREDENTIAL/ATTRIBUTE, or variable:NAME")
        data[key] = value
    secret = data.get("client_secret")
    if secret is not None and not str(secret).startswith(("credential:", "variable:")):
        raise ConfigError("--client-secret is a plain value; a profile holds references only, "
                          "never secrets", field="--client-secret",
                          advice="store the secret in the Credential Vault and give "
                          "credential:LOCKER/CREDENTIAL/ATTRIBUTE, or variable:NAME")
    if data.get("client_secret"):
        from m365bot.values import parse_value

        parse_value(str(data["client_secret"]), field="--client-secret")  # well-formed ref
    proxy = data.get("proxy")
    if proxy and (urlsplit(str(proxy)).password or urlsplit(str(proxy)).username):
        raise ConfigError("--proxy carries a user name or password; a profile holds no "
                          "secrets", field="--proxy",
                          advice="save the proxy without credentials, and give M365BOT_PROXY "
                          "with them in the bot's environment")
    if not data.get("mode") or not data.get("username"):
        missing = "--mode" if not data.get("mode") else "--username"
        raise ConfigError(f"{missing} is required in a profile", field=missing,
                          advice=f"give {missing} as for 'm365bot connect'")
    return data


def save_profile(settings: Any, name: str, data: dict[str, Any]) -> Path:
    path = profile_path(settings, name)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"format": 1, "name": name, "options": data}, fh, indent=2)
    tmp.replace(path)
    return path


def load_profile(settings: Any, name: str) -> dict[str, Any]:
    """The saved options of profile ``name``; NotFoundError naming it if there is none."""
    path = profile_path(settings, name)
    try:
        data = json.loads(path.read_text())
        options = data["options"]
        if not isinstance(options, dict):
            raise ValueError
    except FileNotFoundError:
        raise NotFoundError(f"--profile: there is no profile named {name!r}",
                            advice="list them with 'm365bot profile list', or save one with "
                            "'m365bot profile save NAME ...'") from None
    except (OSError, ValueError, KeyError):
        raise ConfigError(f"--profile: the profile file {path} is unreadable",
                          field="--profile",
                          advice="save the profile again with 'm365bot profile save'") from None
    return {k: v for k, v in options.items() if k in FIELDS}


__all__ = ["FIELDS", "check_profile_name", "load_profile", "option_flag", "profile_path",
           "references_only", "save_profile"]
