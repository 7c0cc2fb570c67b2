"""In-memory identity runtime: browser sessions, sign-in transactions and device codes.

These are short-lived and need not survive a restart (a real browser session would not
survive Entra forgetting it either). Codes and refresh tokens live in ``State`` instead.

Example::

    rt = Runtime()
    sid = rt.new_session(user_id, tenant_id, now)
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

SESSION_COOKIE = "ESTSAUTH"
TRANSACTION_LIFETIME = 3600
DEVICE_CODE_LIFETIME = 900


@dataclass
class Transaction:
    """One /authorize request waiting for the user (sign-in, account pick, consent)."""

    id: str
    tenant_segment: str
    tenant_id: str
    client_id: str
    params: dict[str, str]
    created: float
    user_id: str | None = None
    device_code: str | None = None  # set when this sign-in completes a device flow


@dataclass
class DeviceFlow:
    user_code: str
    client_id: str
    tenant_id: str
    scope: str
    created: float
    user_id: str | None = None
    declined: bool = False
    done: bool = False


@dataclass
class Runtime:
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    transactions: dict[str, Transaction] = field(default_factory=dict)
    device_flows: dict[str, DeviceFlow] = field(default_factory=dict)  # by device_code
    lock: threading.Lock = field(default_factory=threading.Lock)

    def new_session(self, user_id: str, tenant_id: str, now: float) -> str:
        sid = secrets.token_urlsafe(32)
        with self.lock:
            self.sessions[sid] = {"user_id": user_id, "tenant_id": tenant_id, "created": now}
        return sid

    def session_user(self, sid: str | None) -> str | None:
        if not sid:
            return None
        with self.lock:
            s = self.sessions.get(sid)
        return None if s is None else str(s["user_id"])

    def end_session(self, sid: str | None) -> None:
        if sid:
            with self.lock:
                self.sessions.pop(sid, None)

    def new_transaction(self, **kw: Any) -> Transaction:
        tx = Transaction(id=secrets.token_urlsafe(24), **kw)
        with self.lock:
            now = tx.created
            for k in [
                k for k, v in self.transactions.items() if now - v.created > TRANSACTION_LIFETIME
            ]:
                del self.transactions[k]
            self.transactions[tx.id] = tx
        return tx

    def transaction(self, tx_id: str, now: float) -> Transaction | None:
        with self.lock:
            tx = self.transactions.get(tx_id)
        if tx is None or now - tx.created > TRANSACTION_LIFETIME:
            return None
        return tx

    def finish_transaction(self, tx_id: str) -> None:
        with self.lock:
            self.transactions.pop(tx_id, None)

    def new_device_flow(self, **kw: Any) -> tuple[str, DeviceFlow]:
        device_code = "DAQ" + secrets.token_urlsafe(48)
        alphabet = "BCDFGHJKLMNPQRSTVWXZ23456789"
        user_code = "".join(secrets.choice(alphabet) for _ in range(9))
        flow = DeviceFlow(user_code=user_code, **kw)
        with self.lock:
            self.device_flows[device_code] = flow
        return device_code, flow

    def device_flow_by_user_code(self, user_code: str) -> tuple[str, DeviceFlow] | None:
        code = user_code.strip().upper().replace("-", "")
        with self.lock:
            for dc, flow in self.device_flows.items():
                if flow.user_code == code and not flow.done:
                    return dc, flow
        return None
