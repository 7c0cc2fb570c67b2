"""Emulator realism knobs that the control API and ``emu.settings`` change at run time.

Example::

    settings = EmulatorSettings()
    settings.update({"latency_ms": 40, "throttling": {"enabled": False}})
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from m365bot.emulator.errors import EmulatorError

REFRESH_POLICIES = ("entra", "strict")
THROTTLE_SCOPES = ("app+mailbox", "app")


class SettingsError(EmulatorError, ValueError):
    """A bad settings value; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass
class ThrottleSettings:
    """Outlook's per app + mailbox limits (identity-and-graph-facts.md §3.2)."""

    enabled: bool = True
    concurrency: int = 4
    requests: int = 10_000
    requests_window: float = 600.0
    upload_bytes: int = 150 * 1024 * 1024
    upload_window: float = 300.0
    scope: str = "app+mailbox"  # or "app"
    retry_after: int = 1  # Retry-After for concurrency refusals


@dataclass
class EmulatorSettings:
    """Mutable settings. ``refresh_token_policy``: "entra" keeps used refresh tokens valid
    (Entra's documented behaviour), "strict" revokes them on use."""

    latency_ms: float = 0.0
    refresh_token_policy: str = "entra"
    throttling: ThrottleSettings = field(default_factory=ThrottleSettings)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def update(self, data: Any) -> None:
        """Apply a partial settings dict, all-or-nothing; :class:`SettingsError` on bad input."""
        if not isinstance(data, dict):
            raise SettingsError("settings", "expected a JSON object")
        latency = self.latency_ms
        policy = self.refresh_token_policy
        throttle = ThrottleSettings(**asdict(self.throttling))
        for key, value in data.items():
            if key == "latency_ms":
                latency = _number(key, value, minimum=0, maximum=60_000)
            elif key == "refresh_token_policy":
                if value not in REFRESH_POLICIES:
                    raise SettingsError(key, f"must be one of {', '.join(REFRESH_POLICIES)}")
                policy = value
            elif key == "throttling":
                _update_throttle(throttle, value)
            else:
                known = "latency_ms, refresh_token_policy, throttling"
                raise SettingsError(key, f"unknown setting; known settings: {known}")
        self.latency_ms = latency
        self.refresh_token_policy = policy
        self.throttling = throttle


def _number(name: str, value: Any, *, minimum: float, maximum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SettingsError(name, "must be a number")
    if not minimum <= value <= maximum:
        raise SettingsError(name, f"must be between {minimum} and {maximum}")
    return float(value)


def _update_throttle(throttle: ThrottleSettings, value: Any) -> None:
    if isinstance(value, bool):
        throttle.enabled = value
        return
    if not isinstance(value, dict):
        raise SettingsError("throttling", "expected true, false or an object")
    names = {f.name for f in fields(ThrottleSettings)}
    for key, v in value.items():
        name = f"throttling.{key}"
        if key not in names:
            raise SettingsError(name, f"unknown; known: {', '.join(sorted(names))}")
        if key == "enabled":
            if not isinstance(v, bool):
                raise SettingsError(name, "must be true or false")
            throttle.enabled = v
        elif key == "scope":
            if v not in THROTTLE_SCOPES:
                raise SettingsError(name, f"must be one of {', '.join(THROTTLE_SCOPES)}")
            throttle.scope = v
        elif key in ("requests_window", "upload_window"):
            setattr(throttle, key, _number(name, v, minimum=0.001, maximum=86_400))
        else:
            setattr(throttle, key, int(_number(name, v, minimum=0, maximum=10**12)))
