"""Console accounts and login sessions.

Passwords are hashed with scrypt. After ``lockout_threshold`` failed logins in a
row an account is locked for ``lockout_minutes`` (an admin may unlock it
sooner). A console session lives until it has been idle for the configured
time, or reaches its maximum age. Session tokens are stored only as hashes.
Every call takes the current time from the injected clock.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
import secrets
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from controller.audit import AuditLog
from controller.config import ROLES, SecurityConfig
from controller.errors import (
    AccountLockedError,
    AuthenticationError,
    ConflictError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
)
from controller.store import Store

# scrypt cost: n=2**15, r=8 uses 32 MiB and ~0.1 s on a room PC.
_SCRYPT_N: Final = 2**15
_SCRYPT_R: Final = 8
_SCRYPT_P: Final = 1
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,31}$")
SETUP_TOKEN_KEY: Final = "setup_token_hash"  # noqa: S105 - a settings key


def hash_password(password: str, *, n: int = _SCRYPT_N) -> str:
    """A self-describing scrypt hash: ``scrypt$n$r$p$salt$key``."""
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=_SCRYPT_R, p=_SCRYPT_P,
                         maxmem=128 * 1024 * 1024, dklen=32)
    return "$".join(("scrypt", str(n), str(_SCRYPT_R), str(_SCRYPT_P),
                     base64.b64encode(salt).decode(), base64.b64encode(key).decode()))


def check_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a hash made by `hash_password`."""
    try:
        scheme, n, r, p, salt_b64, key_b64 = stored.split("$")
        if scheme != "scrypt":
            return False
        salt = base64.b64decode(salt_b64)
        expected = base64.b64decode(key_b64)
        key = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=int(n), r=int(r), p=int(p),
                             maxmem=128 * 1024 * 1024, dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(key, expected)


@functools.cache
def _dummy_hash() -> str:
    """Compared against when the username is unknown, so timing hides which names exist."""
    return hash_password("diemcau-dummy-password")


@dataclass(frozen=True)
class User:
    """A console account (never carries the password hash outward)."""

    id: int
    username: str
    role: str
    disabled: bool
    failed_logins: int
    locked_until: float | None
    created_at: float


@dataclass(frozen=True)
class WebSession:
    """A logged-in console session."""

    token_hash: str
    user: User
    csrf_token: str
    created_at: float
    last_seen: float


def _user(row: sqlite3.Row) -> User:
    return User(
        id=row["id"], username=row["username"], role=row["role"],
        disabled=bool(row["disabled"]), failed_logins=row["failed_logins"],
        locked_until=row["locked_until"], created_at=row["created_at"],
    )


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Accounts:
    """Users, passwords, lockout and console sessions of one site."""

    def __init__(self, store: Store, audit: AuditLog, security: SecurityConfig,
                 idle_minutes: int, clock: Callable[[], float]) -> None:
        self.store = store
        self.audit = audit
        self.security = security
        self.idle_seconds = idle_minutes * 60
        self.clock = clock

    # -- accounts ------------------------------------------------------------------------

    def check_new_password(self, password: str, username: str = "") -> None:
        """Refuse passwords that are too short or equal to the username."""
        if len(password) < self.security.password_min_length:
            raise InputError(
                f"Mật khẩu phải có ít nhất {self.security.password_min_length} ký tự.",
                code="weak_password")
        if username and password.lower() == username.lower():
            raise InputError("Mật khẩu không được trùng tên đăng nhập.", code="weak_password")

    @staticmethod
    def check_username(username: str) -> None:
        """Usernames: 2-32 of lowercase letters, digits, '.', '_' and '-'."""
        if not _USERNAME.match(username):
            raise InputError(
                "Tên đăng nhập gồm 2–32 chữ thường không dấu, số, '.', '_' hoặc '-'.",
                code="bad_username")

    @staticmethod
    def check_role(role: str) -> None:
        """Roles are the fixed set of the security model."""
        if role not in ROLES:
            raise InputError(f"Vai trò không hợp lệ: {role!r}.", code="bad_role")

    def get(self, username: str) -> User:
        """One user by name."""
        row = self.store.query_one("SELECT * FROM users WHERE username = ?", (username,))
        if row is None:
            raise NotFoundError(f"Không có tài khoản {username!r}.", code="user_not_found")
        return _user(row)

    def list(self) -> list[User]:
        """Every account, by name."""
        return [_user(r) for r in self.store.query("SELECT * FROM users ORDER BY username")]

    def has_admin(self) -> bool:
        """Whether an enabled admin account exists."""
        return self.store.query_one(
            "SELECT 1 FROM users WHERE role = 'admin' AND disabled = 0") is not None

    def add(self, username: str, password: str, role: str, *, actor: str) -> User:
        """Create an account (audited)."""
        self.check_username(username)
        self.check_role(role)
        self.check_new_password(password, username)
        hashed = hash_password(password)
        now = self.clock()
        try:
            self.store.execute(
                "INSERT INTO users(username, role, password_hash, created_at,"
                " password_changed_at) VALUES (?, ?, ?, ?, ?)",
                (username, role, hashed, now, now))
        except sqlite3.IntegrityError as exc:
            raise ConflictError(f"Tài khoản {username!r} đã có.", code="user_exists") from exc
        self.audit.record(actor, "user.add", username, details={"role": role})
        return self.get(username)

    def set_password(self, username: str, password: str, *, actor: str) -> None:
        """Change a password, ending that user's console sessions (audited)."""
        user = self.get(username)
        self.check_new_password(password, username)
        hashed = hash_password(password)
        now = self.clock()
        with self.store.transaction() as conn:
            conn.execute("UPDATE users SET password_hash = ?, password_changed_at = ?,"
                         " failed_logins = 0, locked_until = NULL WHERE id = ?",
                         (hashed, now, user.id))
            conn.execute("DELETE FROM web_sessions WHERE user_id = ?", (user.id,))
        self.audit.record(actor, "user.passwd", username)

    def change_own_password(self, session: WebSession, current: str, new: str) -> None:
        """A logged-in user changes their own password, proving the current one."""
        row = self.store.query_one("SELECT password_hash FROM users WHERE id = ?",
                                   (session.user.id,))
        if row is None or not check_password(current, row["password_hash"]):
            self.audit.record(session.user.username, "user.passwd", session.user.username,
                              result="denied", details={"reason": "wrong current password"})
            raise PermissionDeniedError("Mật khẩu hiện tại không đúng.", code="wrong_password")
        self.set_password(session.user.username, new, actor=session.user.username)

    def set_role(self, username: str, role: str, *, actor: str) -> User:
        """Change a user's role (audited); the last admin keeps theirs."""
        self.check_role(role)
        user = self.get(username)
        if user.role == "admin" and role != "admin":
            self._keep_one_admin(user)
        self.store.execute("UPDATE users SET role = ? WHERE id = ?", (role, user.id))
        self.audit.record(actor, "user.role", username, details={"from": user.role, "to": role})
        return self.get(username)

    def set_disabled(self, username: str, disabled: bool, *, actor: str) -> User:
        """Disable or re-enable an account (audited); disabling ends its sessions."""
        user = self.get(username)
        if disabled and user.role == "admin":
            self._keep_one_admin(user)
        with self.store.transaction() as conn:
            conn.execute("UPDATE users SET disabled = ? WHERE id = ?", (int(disabled), user.id))
            if disabled:
                conn.execute("DELETE FROM web_sessions WHERE user_id = ?", (user.id,))
        self.audit.record(actor, "user.disable" if disabled else "user.enable", username)
        return self.get(username)

    def unlock(self, username: str, *, actor: str) -> User:
        """Clear a lockout (audited)."""
        user = self.get(username)
        self.store.execute("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = ?",
                           (user.id,))
        self.audit.record(actor, "user.unlock", username)
        return self.get(username)

    def _keep_one_admin(self, user: User) -> None:
        row = self.store.query_one(
            "SELECT COUNT(*) AS n FROM users WHERE role = 'admin' AND disabled = 0 AND id != ?",
            (user.id,))
        if row is None or row["n"] == 0:
            raise ConflictError("Phải còn ít nhất một tài khoản quản trị đang hoạt động.",
                                code="last_admin")

    # -- first admin -----------------------------------------------------------------------

    def issue_setup_token(self) -> str | None:
        """When no admin exists, make a one-time token for creating the first one."""
        if self.has_admin():
            self.store.set_setting(SETUP_TOKEN_KEY, None)
            return None
        token = secrets.token_urlsafe(18)
        self.store.set_setting(SETUP_TOKEN_KEY, _token_hash(token))
        return token

    def setup_needed(self) -> bool:
        """Whether the console should offer first-admin setup."""
        return not self.has_admin() and self.store.get_setting(SETUP_TOKEN_KEY) is not None

    def create_first_admin(self, token: str, username: str, password: str, remote: str) -> User:
        """Use the one-time token to create the first admin; the token then dies."""
        stored = self.store.get_setting(SETUP_TOKEN_KEY)
        if self.has_admin() or stored is None:
            raise ConflictError("Đã có tài khoản quản trị; không cần thiết lập nữa.",
                                code="setup_done")
        if not hmac.compare_digest(stored, _token_hash(token)):
            self.audit.record("anonymous", "setup.admin", username, result="denied",
                              details={"remote": remote, "reason": "wrong token"})
            raise AuthenticationError("Mã thiết lập không đúng.", code="bad_setup_token")
        user = self.add(username, password, "admin", actor="setup-token")
        self.store.set_setting(SETUP_TOKEN_KEY, None)
        return user

    # -- login and sessions -----------------------------------------------------------------

    def authenticate(self, username: str, password: str, remote: str) -> User:
        """Check a login; counts failures and locks the account at the threshold."""
        now = self.clock()
        row = self.store.query_one("SELECT * FROM users WHERE username = ?", (username,))
        if row is None:
            check_password(password, _dummy_hash())
            self.audit.record(username or "-", "login.failure", username, result="denied",
                              details={"reason": "unknown user", "remote": remote})
            raise AuthenticationError("Tên đăng nhập hoặc mật khẩu không đúng.",
                                      code="invalid_credentials")
        user = _user(row)
        if user.locked_until is not None and user.locked_until > now:
            self.audit.record(username, "login.failure", username, result="denied",
                              details={"reason": "locked", "remote": remote})
            minutes = max(1, round((user.locked_until - now) / 60))
            raise AccountLockedError(
                f"Tài khoản tạm khoá do đăng nhập sai nhiều lần; thử lại sau {minutes} phút "
                "hoặc nhờ quản trị mở khoá.", user.locked_until)
        if not check_password(password, row["password_hash"]):
            failures = user.failed_logins + 1
            locked_until = None
            if failures >= self.security.lockout_threshold:
                locked_until = now + self.security.lockout_minutes * 60
                failures = 0
            self.store.execute("UPDATE users SET failed_logins = ?, locked_until = ? WHERE id = ?",
                               (failures, locked_until, user.id))
            self.audit.record(username, "login.failure", username, result="denied",
                              details={"reason": "wrong password", "remote": remote,
                                       "locked": locked_until is not None})
            if locked_until is not None:
                self.audit.record("system", "user.lock", username,
                                  details={"minutes": self.security.lockout_minutes})
                raise AccountLockedError(
                    f"Đăng nhập sai {self.security.lockout_threshold} lần; tài khoản bị khoá "
                    f"{self.security.lockout_minutes} phút.", locked_until)
            raise AuthenticationError("Tên đăng nhập hoặc mật khẩu không đúng.",
                                      code="invalid_credentials")
        if user.disabled:
            self.audit.record(username, "login.failure", username, result="denied",
                              details={"reason": "disabled", "remote": remote})
            raise AuthenticationError("Tài khoản đã bị vô hiệu hoá.", code="account_disabled")
        if user.failed_logins or user.locked_until is not None:
            self.store.execute("UPDATE users SET failed_logins = 0, locked_until = NULL"
                               " WHERE id = ?", (user.id,))
        return self.get(username)

    def open_session(self, user: User, remote: str) -> tuple[str, WebSession]:
        """Start a console session; returns the cookie token and the session."""
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = self.clock()
        digest = _token_hash(token)
        self.store.execute(
            "INSERT INTO web_sessions(token_hash, user_id, csrf_token, created_at, last_seen,"
            " remote) VALUES (?, ?, ?, ?, ?, ?)", (digest, user.id, csrf, now, now, remote))
        self.audit.record(user.username, "login.success", user.username,
                          details={"remote": remote, "role": user.role})
        return token, WebSession(digest, user, csrf, now, now)

    def resume_session(self, token: str, *, touch: bool = True) -> WebSession:
        """The live session for a cookie token; ``touch`` resets its idle clock."""
        now = self.clock()
        digest = _token_hash(token)
        row = self.store.query_one(
            "SELECT s.csrf_token, s.created_at, s.last_seen, u.* FROM web_sessions s"
            " JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?", (digest,))
        if row is None:
            raise AuthenticationError("Bạn chưa đăng nhập.", code="not_authenticated")
        user = _user(row)
        idle = now - row["last_seen"]
        age = now - row["created_at"]
        if idle > self.idle_seconds or age > self.security.session_max_hours * 3600 \
                or user.disabled:
            self.store.execute("DELETE FROM web_sessions WHERE token_hash = ?", (digest,))
            self.audit.record(user.username, "session.expired", user.username,
                              details={"idle_seconds": round(idle)})
            raise AuthenticationError("Phiên làm việc đã hết hạn, vui lòng đăng nhập lại.",
                                      code="session_expired")
        if not touch:
            return WebSession(digest, user, row["csrf_token"], row["created_at"],
                              row["last_seen"])
        self.store.execute("UPDATE web_sessions SET last_seen = ? WHERE token_hash = ?",
                           (now, digest))
        return WebSession(digest, user, row["csrf_token"], row["created_at"], now)

    def close_session(self, session: WebSession) -> None:
        """Log out."""
        self.store.execute("DELETE FROM web_sessions WHERE token_hash = ?", (session.token_hash,))
        self.audit.record(session.user.username, "logout", session.user.username)

    def sweep_sessions(self, now: float) -> int:
        """Drop sessions past their idle or maximum age; returns how many."""
        return self.store.execute(
            "DELETE FROM web_sessions WHERE last_seen < ? OR created_at < ?",
            (now - self.idle_seconds, now - self.security.session_max_hours * 3600))
