"""``m365bot vault``: the Credential Vault from the command line.

Values come from stdin or a hidden prompt, never from the command line (argv is visible
in ``ps`` and shell history), and are never printed unless ``get --reveal`` asks for it.
The master key comes from ``--passphrase-stdin`` (first stdin line), the prompt,
``--key-file`` or ``M365BOT_VAULT_KEY``.

Example::

    m365bot vault init --generate-key-file ~/.m365bot.key --key-file ~/.m365bot.key
    m365bot vault locker create bots --key-file ~/.m365bot.key
    printf %s "$SECRET" | m365bot vault set bots o365 client_secret --key-file ~/.m365bot.key
    m365bot vault get bots o365 client_secret --reveal --key-file ~/.m365bot.key
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

import click

from m365bot.cli.actor import default_actor
from m365bot.errors import ConfigError, M365BotError

if TYPE_CHECKING:
    from m365bot.vault import Vault
    from m365bot.vault.keys import MasterKeySource

F = TypeVar("F", bound=Callable[..., Any])


class _Opts:
    """The options every vault command shares, and a stdin reader that keeps its place."""

    def __init__(self, vault: str | None, actor: str | None, roles: tuple[str, ...],
                 key_file: Path | None, passphrase_stdin: bool, as_json: bool) -> None:
        self.vault = vault
        self.actor = actor or default_actor()
        self.roles = roles
        self.key_file = key_file
        self.passphrase_stdin = passphrase_stdin
        self.as_json = as_json
        stream: Any = sys.stdin
        self._stdin: IO[str] = stream

    def _read(self, what: str, read: Callable[[], str]) -> str:
        try:
            return read()
        except UnicodeDecodeError:
            raise ConfigError(f"the {what} on stdin is not UTF-8 text", field=what,
                              advice=f"write the {what} to stdin as UTF-8") from None

    def stdin_line(self, what: str) -> str:
        line = self._read(what, self._stdin.readline)
        if not line:
            raise ConfigError(f"stdin ended before the {what}", field=what,
                              advice=f"write the {what} on its own line to stdin")
        return line.rstrip("\r\n")

    def stdin_rest(self) -> str:
        data = self._read("value", self._stdin.read)
        if data.endswith("\r\n"):
            return data[:-2]
        return data[:-1] if data.endswith("\n") else data

    def stdin_is_tty(self) -> bool:
        return self._stdin.isatty()

    def location(self) -> str:
        if self.vault:
            return self.vault
        from m365bot.vault.store import default_vault_path

        return str(default_vault_path(os.environ))

    def key_source(self, *, confirm: bool = False) -> MasterKeySource:
        from m365bot.vault.keys import MasterKeySource

        if self.key_file is not None:
            return MasterKeySource.from_key_file(self.key_file)
        if self.passphrase_stdin:
            return MasterKeySource.from_passphrase(self.stdin_line("passphrase"))
        env = MasterKeySource.from_environ(os.environ)
        if env is not None:
            return env
        if not self.stdin_is_tty():
            raise ConfigError(
                "no vault master key given",
                field="passphrase",
                advice="use --passphrase-stdin, --key-file PATH or the M365BOT_VAULT_KEY "
                "environment variable",
            )
        text = click.prompt("Vault passphrase", hide_input=True,
                            confirmation_prompt=confirm, err=True)
        return MasterKeySource.from_passphrase(text)

    def open(self, *, unlock: bool = True, create: bool = False) -> Vault:
        from m365bot.vault import Vault

        location = self.location()
        if not create and "://" not in location and not Path(location).exists():
            # Only 'init' creates a vault: a typo in --vault must not leave empty files.
            raise ConfigError(f"there is no vault at {location}", field="vault",
                              advice="run 'm365bot vault init' first, or give --vault PATH")
        source = self.key_source() if unlock else None  # ask before touching the database
        vault = Vault.open(location, actor=self.actor, roles=self.roles)
        if source is not None:
            try:
                _unlock(vault, source)
            except BaseException:
                vault.close()
                raise
        return vault

    def out(self, data: Any, text: str) -> None:
        click.echo(json.dumps(data, indent=2, default=str) if self.as_json else text)


def _unlock(vault: Vault, source: MasterKeySource) -> None:
    if source.kind == "raw":
        vault.unlock(key=source.raw_key())
    else:
        vault.unlock(passphrase=source.material)


def _common(fn: F) -> F:
    """Shared options, and errors as one clear line on stderr (exit 2), no traceback."""

    @click.option("--vault", "vault_loc", envvar="M365BOT_VAULT", metavar="PATH_OR_URL",
                  help="Vault file or database URL (default: <data dir>/vault.db; "
                  "env M365BOT_VAULT).")
    @click.option("--actor", help="Who is acting, for locker roles and the audit log "
                  "(default: your login name).")
    @click.option("--role", "roles", multiple=True, help="A role you hold (matches locker "
                  "members written role:NAME). Repeatable.")
    @click.option("--key-file", type=click.Path(dir_okay=False, path_type=Path),
                  help="Master key file (32 bytes or base64; mode 0600).")
    @click.option("--passphrase-stdin", is_flag=True,
                  help="Read the passphrase from the first line of stdin.")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @functools.wraps(fn)
    def wrapper(vault_loc: str | None, actor: str | None, roles: tuple[str, ...],
                key_file: Path | None, passphrase_stdin: bool, as_json: bool,
                **kwargs: Any) -> Any:
        opts = _Opts(vault_loc, actor, roles, key_file, passphrase_stdin, as_json)
        try:
            return fn(opts, **kwargs)
        except M365BotError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]


@click.group()
def vault() -> None:
    """The Credential Vault: lockers, credentials and attributes, encrypted at rest."""


@vault.command()
@click.option("--kdf", type=click.Choice(["scrypt", "argon2id"]), default="scrypt",
              show_default=True, help="How a passphrase becomes the master key.")
@click.option("--generate-key-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a new random master key to this file (0600) and use it.")
@_common
def init(opts: _Opts, kdf: str, generate_key_file: Path | None) -> None:
    """Create the vault and set its master key."""
    from m365bot.vault.keys import MasterKeySource, new_raw_key

    if generate_key_file is not None:
        _write_key_file(generate_key_file, new_raw_key())
        source = MasterKeySource.from_key_file(generate_key_file)
    else:
        source = opts.key_source(confirm=True)
    try:
        vault = opts.open(unlock=False, create=True)
        with vault:
            if source.kind == "raw":
                vault.initialize(key=source.raw_key())
            else:
                vault.initialize(passphrase=source.material, kdf=kdf)  # type: ignore[arg-type]
            where = str(vault.path) if vault.path else _url_without_password(opts.location())
    except BaseException:
        if generate_key_file is not None:  # bad input changes nothing: drop the unused key
            generate_key_file.unlink(missing_ok=True)
        raise
    opts.out({"vault": where, "initialized": True},
             f"Vault initialized at {where}.")


def _url_without_password(url: str) -> str:
    """A database URL fit to print: the password (if any) left out."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
        return parsed._replace(password=None).render_as_string(hide_password=False)
    except ArgumentError:
        return url.split("://", 1)[0] + "://..."


def _write_key_file(path: Path, key_b64: str) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(f"the key file {path} already exists", field="generate_key_file",
                          advice="choose a new path; an existing key is never overwritten")\
            from None
    with os.fdopen(fd, "w") as f:
        f.write(key_b64 + "\n")


@vault.command("unlock-test")
@_common
def unlock_test(opts: _Opts) -> None:
    """Check that the master key opens the vault (decrypts nothing else)."""
    with opts.open():
        pass
    opts.out({"unlocked": True}, "The key opens the vault.")


@vault.group()
def locker() -> None:
    """Create lockers and manage their members."""


@locker.command("create")
@click.argument("name")
@_common
def locker_create(opts: _Opts, name: str) -> None:
    """Create locker NAME; you become its owner."""
    with opts.open() as v:
        v.create_locker(name)
    opts.out({"locker": name.lower(), "owner": opts.actor},
             f"Locker {name.lower()} created; owner: {opts.actor}.")


@locker.command("add-member")
@click.argument("locker_name", metavar="LOCKER")
@click.argument("member")
@click.argument("role", type=click.Choice(["owner", "manager", "participant", "consumer"]))
@_common
def locker_add_member(opts: _Opts, locker_name: str, member: str, role: str) -> None:
    """Add MEMBER (a user, or role:NAME) to LOCKER with ROLE."""
    with opts.open() as v:
        v.add_member(locker_name, member, role)
    opts.out({"locker": locker_name.lower(), "member": member.lower(), "role": role},
             f"{member.lower()} is now {role} of locker {locker_name.lower()}.")


@vault.command("set")
@click.argument("locker_name", metavar="LOCKER")
@click.argument("credential")
@click.argument("attribute")
@click.argument("refused", nargs=-1, metavar="")
@click.option("--masked/--unmasked", default=None,
              help="Whether the attribute is masked (new attributes: masked).")
@click.option("--user-provided/--standard", default=None,
              help="Each user supplies their own value (sets yours); new attributes: "
              "standard.")
@click.option("--no-value", is_flag=True, help="Define the attribute without a value.")
@_common
def set_(opts: _Opts, locker_name: str, credential: str, attribute: str,
         refused: tuple[str, ...], masked: bool | None, user_provided: bool | None,
         no_value: bool) -> None:
    """Set ATTRIBUTE of CREDENTIAL in LOCKER; the value comes from stdin or a prompt."""
    if refused:
        # Never echo what was typed: it may be the secret itself.
        refusal = ConfigError(
            "values are not accepted on the command line (they would show in ps and "
            "shell history)",
            field="value",
            advice="pipe the value on stdin, or run without it to be prompted",
        )
        click.echo(f"Error: {refusal}", err=True)
        sys.exit(2)
    from m365bot.vault import AttributeSpec

    v = opts.open()
    with v:
        value = None if no_value else _read_value(opts)
        existing = {c.name: c for c in v.list_credentials(locker_name)}
        cred = existing.get(credential.lower())
        attr = None
        if cred is not None:
            attr = next((a for a in cred.attributes if a.name == attribute.lower()), None)
        # Flags not given keep what the attribute already has.
        if masked is None:
            masked = attr.masked if attr is not None else True
        if user_provided is None:
            user_provided = attr.user_provided if attr is not None else False
        if attr is not None and value is not None and attr.user_provided == user_provided \
                and attr.masked == masked:
            # Consumers may fill in their own user-provided value this way.
            v.set_attribute(locker_name, credential, attribute, value)
        else:
            spec = AttributeSpec(value, masked=masked, user_provided=user_provided)
            v.set_credential(locker_name, credential, {attribute: spec})
    what = "defined" if value is None else "set"
    opts.out({"locker": locker_name.lower(), "credential": credential.lower(),
              "attribute": attribute.lower(), "masked": masked,
              "user_provided": user_provided, "value_set": value is not None},
             f"{locker_name.lower()}/{credential.lower()}/{attribute.lower()} {what}"
             f"{' (masked)' if masked else ''}{' (user-provided)' if user_provided else ''}.")


def _read_value(opts: _Opts) -> Any:
    from m365bot.values import Secret

    if opts.stdin_is_tty():
        text = click.prompt("Value", hide_input=True, confirmation_prompt=True, err=True)
    else:
        text = opts.stdin_rest()
    if not text:
        raise ConfigError("the value is empty", field="value",
                          advice="pipe a non-empty value on stdin, or use --no-value")
    return Secret(text)


@vault.command("get")
@click.argument("locker_name", metavar="LOCKER")
@click.argument("credential")
@click.argument("attribute")
@click.option("--reveal", is_flag=True, help="Print the value itself.")
@_common
def get(opts: _Opts, locker_name: str, credential: str, attribute: str, reveal: bool) -> None:
    """Read an attribute's value (audited). Prints it only with --reveal."""
    with opts.open() as v:
        secret = v.get(locker_name, credential, attribute)
    name = f"{locker_name.lower()}/{credential.lower()}/{attribute.lower()}"
    data: dict[str, Any] = {"locker": locker_name.lower(), "credential": credential.lower(),
                            "attribute": attribute.lower(), "length": len(secret)}
    if reveal:
        data["value"] = secret.reveal()
        opts.out(data, secret.reveal())
    else:
        opts.out(data, f"{name}: ******** ({len(secret)} characters; --reveal prints it)")


@vault.command("list")
@click.argument("locker_name", metavar="[LOCKER]", required=False)
@_common
def list_(opts: _Opts, locker_name: str | None) -> None:
    """List your lockers, or the credentials of LOCKER (names only, never values)."""
    with opts.open(unlock=False) as v:
        if locker_name is None:
            lockers = v.list_lockers()
            opts.out([{"locker": lk.name, "role": lk.role, "members": lk.members}
                      for lk in lockers],
                     "\n".join(f"{lk.name}\t{lk.role}" for lk in lockers) or "(no lockers)")
            return
        creds = v.list_credentials(locker_name)
    opts.out([{"credential": c.name, "owner": c.owner,
               "attributes": [a.name for a in c.attributes]} for c in creds],
             "\n".join(f"{c.name}\t{', '.join(a.name for a in c.attributes)}" for c in creds)
             or "(no credentials)")


@vault.command("attributes")
@click.argument("locker_name", metavar="LOCKER")
@click.argument("credential")
@_common
def attributes(opts: _Opts, locker_name: str, credential: str) -> None:
    """Show the attributes of CREDENTIAL: masked, user-provided, value set. Never values."""
    from m365bot.errors import VaultNotFoundError

    with opts.open(unlock=False) as v:
        creds = {c.name: c for c in v.list_credentials(locker_name)}
    cred = creds.get(credential.lower())
    if cred is None:
        raise VaultNotFoundError(f"no credential {credential.lower()!r} in locker "
                            f"{locker_name.lower()!r}")
    rows = [{"attribute": a.name, "masked": a.masked, "user_provided": a.user_provided,
             "has_value": a.has_value} for a in cred.attributes]
    lines = [f"{a.name}\t{'masked' if a.masked else 'unmasked'}\t"
             f"{'user-provided' if a.user_provided else 'standard'}\t"
             f"{'set' if a.has_value else 'no value'}" for a in cred.attributes]
    opts.out(rows, "\n".join(lines))


@vault.command("rotate-key")
@click.option("--new-key-file", type=click.Path(dir_okay=False, path_type=Path),
              help="The new master key file (32 bytes or base64; mode 0600).")
@click.option("--generate-new-key-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a new random master key to this file (0600) and rotate to it.")
@click.option("--new-passphrase-stdin", is_flag=True,
              help="Read the new passphrase from the next line of stdin.")
@click.option("--kdf", type=click.Choice(["scrypt", "argon2id"]), default="scrypt",
              show_default=True)
@_common
def rotate_key(opts: _Opts, new_key_file: Path | None, generate_new_key_file: Path | None,
               new_passphrase_stdin: bool, kdf: str) -> None:
    """Switch to a new master key; rewraps every data key, values stay as they are."""
    from m365bot.vault.keys import MasterKeySource, new_raw_key

    v = opts.open()
    with v:
        if generate_new_key_file is not None:
            _write_key_file(generate_new_key_file, new_raw_key())
            new_key_file = generate_new_key_file
        if new_key_file is not None:
            count = v.rotate_master_key(
                key=MasterKeySource.from_key_file(new_key_file).raw_key())
        else:
            if new_passphrase_stdin:
                text = opts.stdin_line("new passphrase")
            elif opts.stdin_is_tty():
                text = click.prompt("New vault passphrase", hide_input=True,
                                    confirmation_prompt=True, err=True)
            else:
                raise ConfigError("no new master key given", field="new_key",
                                  advice="use --new-key-file, --generate-new-key-file or "
                                  "--new-passphrase-stdin")
            new = MasterKeySource.from_passphrase(text)
            count = v.rotate_master_key(passphrase=new.material, kdf=kdf)  # type: ignore[arg-type]
    opts.out({"rotated": True, "rewrapped": count},
             f"Master key rotated; {count} data keys rewrapped.")


@vault.command("audit")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--locker", "locker_name", help="Only this locker's records.")
@_common
def audit(opts: _Opts, limit: int, locker_name: str | None) -> None:
    """Show the newest audit records: who read or changed what, when. Never values."""
    with opts.open() as v:
        entries = v.audit_log(limit=limit, locker=locker_name)
    rows = [{"at": e.at.isoformat(), "actor": e.actor, "action": e.action,
             "locker": e.locker, "credential": e.credential, "attribute": e.attribute,
             "subject": e.subject, "outcome": e.outcome} for e in entries]
    lines = [f"{e.at:%Y-%m-%d %H:%M:%S}\t{e.actor}\t{e.action}\t"
             f"{'/'.join(p for p in (e.locker, e.credential, e.attribute) if p)}\t{e.outcome}"
             for e in entries]
    opts.out(rows, "\n".join(lines) or "(no records)")
