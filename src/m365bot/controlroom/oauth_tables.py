"""The Control Room's OAuth tables (on the server database's metadata, revisions ``cr0002``
and ``cr0003``):

* ``cr_oauth_connections``: one row per connection (provider type, name, cloud, grant type,
  client id, URLs, scopes), its client secret sealed with the server key, or the Credential
  Vault reference (locker, credential, attribute) it is read from at each token request,
  with the last reason that read failed;
* ``cr_connection_roles``: the roles a connection is shared with (invited roles);
* ``cr_oauth_tokens``: the Shared token (``owner`` ``""``) and each user's User-specific
  token (``owner`` the user's name in lower case). The access and refresh tokens are one
  sealed JSON document; expiry, "has a refresh token" and the last refusal stay readable so
  a page of connections shows statuses without decrypting anything.

Example::

    from m365bot.controlroom.oauth_tables import oauth_connections
    conn.execute(select(oauth_connections.c.name))
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from m365bot.controlroom.db import metadata

_TS = DateTime(timezone=True)

oauth_connections = Table(
    "cr_oauth_connections", metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(300), nullable=False, unique=True),  # lower(provider)|lower(name)
    Column("provider_type", String(60), nullable=False),
    Column("name", String(200), nullable=False),
    Column("cloud", String(20), nullable=False, default=""),
    Column("grant_type", String(40), nullable=False),
    Column("client_id", String(200), nullable=False),
    Column("authorization_url", String(2000), nullable=False, default=""),
    Column("token_url", String(2000), nullable=False),
    Column("scopes", Text, nullable=False, default=""),  # space-separated
    Column("client_secret", LargeBinary, nullable=True),  # sealed; never plaintext
    # or a Credential Vault reference, read at each token request (cr0003): names only
    Column("client_secret_locker", String(200), nullable=True),
    Column("client_secret_credential", String(200), nullable=True),
    Column("client_secret_attribute", String(200), nullable=True),
    # why the reference could not be read the last time (names only, never a value)
    Column("client_secret_error", String(500), nullable=True),
    Column("created_at", _TS, nullable=False),
    Column("updated_at", _TS, nullable=False),
    Column("updated_by", String(200), nullable=False, default=""),
)

connection_roles = Table(
    "cr_connection_roles", metadata,
    Column("connection_id", Integer, ForeignKey("cr_oauth_connections.id", ondelete="CASCADE"),
           primary_key=True),
    Column("role_id", Integer, ForeignKey("cr_roles.id", ondelete="CASCADE"), primary_key=True),
)

oauth_tokens = Table(
    "cr_oauth_tokens", metadata,
    Column("id", Integer, primary_key=True),
    Column("connection_id", Integer, ForeignKey("cr_oauth_connections.id", ondelete="CASCADE"),
           nullable=False),
    Column("owner", String(200), nullable=False),  # "" = the Shared token
    Column("sealed", LargeBinary, nullable=False),  # {"access_token", "refresh_token"} sealed
    Column("expires_on", Float, nullable=False),  # the access token's expiry, epoch seconds
    Column("renewable", Boolean, nullable=False),  # a refresh token is kept
    Column("refreshed_at", Float, nullable=False),  # the last login or renewal
    Column("refused", String(100), nullable=True),  # why the last renewal was refused
    Column("refused_at", Float, nullable=True),
    UniqueConstraint("connection_id", "owner", name="uq_cr_oauth_tokens_slot"),
)
Index("ix_cr_connection_roles_role", connection_roles.c.role_id)
Index("ix_cr_oauth_tokens_owner", oauth_tokens.c.owner)

__all__ = ["connection_roles", "oauth_connections", "oauth_tokens"]
