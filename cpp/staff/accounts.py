"""Staff accounts: the shop's people, kept in the portal's own database (customers stay in PIMS).

Two roles: `owner` (everything, settings included) and `staff` (payments and health). Passwords
are hashed with werkzeug's scrypt and must pass zxcvbn's strength check, which knows the most
common passwords. Two-factor codes are TOTP (RFC 6238, pyotp); a code is accepted once only.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import current_app
from werkzeug.security import check_password_hash, generate_password_hash

from ..database import IntegrityError

ROLES = ("owner", "staff")
MIN_PASSWORD_LENGTH = 12
# zxcvbn's score: 3 is "safely unguessable: moderate protection from offline attacks".
MIN_PASSWORD_SCORE = 3
# A hash to check against when the account does not exist, so that a wrong email takes as long
# as a wrong password (no telling which accounts exist from the timing).
_DUMMY_HASH = generate_password_hash("no account has this password", method="scrypt")


class AccountError(ValueError):
    """A request about staff accounts that cannot be done; the message says why, plainly."""


@dataclass(frozen=True)
class StaffAccount:
    id: int
    email: str
    role: str
    two_factor: bool
    disabled: bool
    created_at: str
    last_sign_in_at: str | None
    session_version: int

    @property
    def is_owner(self) -> bool:
        return self.role == "owner"


def database():
    return current_app.extensions["database"]


def now_text() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def normal_email(email: str) -> str:
    return (email or "").strip().lower()


def password_problem(password: str, email: str = "") -> str | None:
    """Why a password is not good enough, in plain words; None when it is."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Use at least {MIN_PASSWORD_LENGTH} characters."
    if len(password) > 200:
        return "Use at most 200 characters."
    # Imported here: its dictionaries take some 14 MB, which only signing-in staff need.
    from zxcvbn import zxcvbn

    result = zxcvbn(password[:100], user_inputs=[email, *email.split("@")])
    if result["score"] < MIN_PASSWORD_SCORE:
        hint = result["feedback"].get("warning") or "It is too easy to guess."
        return f"{hint.rstrip('.')}. Try a few unrelated words together."
    return None


def _account(row) -> StaffAccount:
    return StaffAccount(id=row["id"], email=row["email"], role=row["role"],
                        two_factor=bool(row["totp_secret"]), disabled=bool(row["disabled"]),
                        created_at=row["created_at"], last_sign_in_at=row["last_sign_in_at"],
                        session_version=row["session_version"])


def add(email: str, password: str, role: str) -> StaffAccount:
    email = normal_email(email)
    if role not in ROLES:
        raise AccountError(f"The role must be one of {', '.join(ROLES)}.")
    if "@" not in email or len(email) > 254 or any(ch.isspace() for ch in email):
        raise AccountError("Give the person's email address (it is their sign-in name).")
    problem = password_problem(password, email)
    if problem:
        raise AccountError(problem)
    try:
        with database().transaction() as db:
            db.execute("INSERT INTO staff_accounts (email, password_hash, role, created_at)"
                       " VALUES (?, ?, ?, ?)",
                       (email, generate_password_hash(password, method="scrypt"), role,
                        now_text()))
    except IntegrityError:
        raise AccountError(f"There is already an account for {email}.") from None
    return get(email)


def get(email: str) -> StaffAccount | None:
    with database().connect() as db:
        row = db.execute("SELECT * FROM staff_accounts WHERE email = ?",
                         (normal_email(email),)).fetchone()
    return _account(row) if row else None


def get_by_id(account_id: int) -> StaffAccount | None:
    with database().connect() as db:
        row = db.execute("SELECT * FROM staff_accounts WHERE id = ?", (account_id,)).fetchone()
    return _account(row) if row else None


def all_accounts() -> list[StaffAccount]:
    with database().connect() as db:
        rows = db.execute("SELECT * FROM staff_accounts ORDER BY role, email").fetchall()
    return [_account(row) for row in rows]


def check_password(email: str, password: str) -> StaffAccount | None:
    """The account, if the password is right and the account is in use; None otherwise."""
    with database().connect() as db:
        row = db.execute("SELECT * FROM staff_accounts WHERE email = ?",
                         (normal_email(email),)).fetchone()
    if row is None:
        check_password_hash(_DUMMY_HASH, password)  # the same work as for a real account
        return None
    if not check_password_hash(row["password_hash"], password) or row["disabled"]:
        return None
    return _account(row)


def set_password(email: str, password: str) -> None:
    problem = password_problem(password, normal_email(email))
    if problem:
        raise AccountError(problem)
    _update(email, password_hash=generate_password_hash(password, method="scrypt"),
            end_sessions=True)


# Held while an owner is disabled: two owners disabling each other at once must not both
# pass the "another owner is left" check.
OWNERS_LOCK = 0x43505053


def set_disabled(email: str, disabled: bool) -> StaffAccount:
    with database().transaction() as db:
        db.serialize(OWNERS_LOCK)  # SQLite's write transaction already serializes
        row = db.execute("SELECT role, disabled FROM staff_accounts WHERE email = ?",
                         (normal_email(email),)).fetchone()
        if row is None:
            raise AccountError(f"No staff account for {normal_email(email)}.")
        if disabled and row[0] == "owner" and not row[1] and db.execute(
                "SELECT COUNT(*) FROM staff_accounts WHERE role = 'owner' AND disabled = ?",
                (False,)).fetchone()[0] <= 1:
            raise AccountError("This is the last owner: add another owner before disabling it.")
        _update_in(db, email, end_sessions=disabled, disabled=disabled)
    return get(email)


def reset_two_factor(email: str) -> None:
    _update(email, totp_secret=None, totp_last_step=None, end_sessions=True)


def signed_in(account: StaffAccount) -> None:
    _update(account.email, last_sign_in_at=now_text())


def _update(email: str, end_sessions: bool = False, **fields) -> None:
    with database().transaction() as db:
        _update_in(db, email, end_sessions, **fields)


def _update_in(db, email: str, end_sessions: bool = False, **fields) -> None:
    """Change an account inside transaction `db`; `end_sessions`: a new session version, so
    every session of the account ends."""
    assignments = ", ".join([*(f"{name} = ?" for name in fields),
                             *(["session_version = session_version + 1"] if end_sessions else [])])
    changed = db.execute(
        f"UPDATE staff_accounts SET {assignments} WHERE email = ?",  # noqa: S608 - names fixed
        (*fields.values(), normal_email(email))).rowcount
    if not changed:
        raise AccountError(f"No staff account for {normal_email(email)}.")


# -- two-factor -------------------------------------------------------------------------------

# pyotp (and segno, for the QR code) are imported where they are used: every customer page runs
# in the same process, and none of them needs them.

def new_totp_secret() -> str:
    import pyotp

    return pyotp.random_base32()


def provisioning_uri(secret: str, email: str) -> str:
    import pyotp

    issuer = f"{current_app.config['SHOP_NAME']} payments"
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=issuer)


def code_matches(secret: str, code: str) -> int | None:
    """The time step of a right code (this one or the one either side, for clock drift)."""
    import pyotp

    code = "".join((code or "").split())
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    now = dt.datetime.now(dt.UTC)
    for drift in (0, -1, 1):
        at = now + dt.timedelta(seconds=30 * drift)
        if totp.verify(code, for_time=at, valid_window=0):
            return totp.timecode(at)
    return None


def enable_two_factor(account: StaffAccount, secret: str, code: str) -> bool:
    step = code_matches(secret, code)
    if step is None:
        return False
    _update(account.email, totp_secret=secret, totp_last_step=step, end_sessions=True)
    return True


def check_code(account: StaffAccount, code: str) -> bool:
    """A right code not used before; using it marks it used, atomically (one tab wins)."""
    with database().connect() as db:
        row = db.execute("SELECT totp_secret FROM staff_accounts WHERE id = ?",
                         (account.id,)).fetchone()
    if row is None or not row["totp_secret"]:
        return False
    step = code_matches(row["totp_secret"], code)
    if step is None:
        return False
    with database().transaction() as db:
        return db.execute(
            "UPDATE staff_accounts SET totp_last_step = ? WHERE id = ?"
            " AND (totp_last_step IS NULL OR totp_last_step < ?)",
            (step, account.id, step)).rowcount == 1
