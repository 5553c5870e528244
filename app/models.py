"""Database models."""

import contextlib
import hashlib
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import idna
from flask import current_app
from flask_login import AnonymousUserMixin, UserMixin
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import (
    DateTime,
    ForeignKey,
    String,
    Text,
    TypeDecorator,
    bindparam,
    delete,
    event,
    select,
    update,
)
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from .extensions import db, login_manager


def utcnow():
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Stores naive UTC and hands back aware UTC, so SQLite and PostgreSQL agree."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        return value.replace(tzinfo=UTC) if value is not None else None


def new_session_token():
    return secrets.token_urlsafe(32)


class Permission:
    # Converting is for everyone with an account (and visitors, when the site allows it), so
    # no role bit guards it. Bit 1 was such a bit, checked nowhere: rows written before may
    # still carry it, so a new permission takes another bit.
    USE_API = 2
    ADMIN = 128


class Role(db.Model):
    __tablename__ = "roles"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    default: Mapped[bool] = mapped_column(default=False, index=True)
    permissions: Mapped[int] = mapped_column(default=0)
    users: Mapped[list["User"]] = relationship(back_populates="role")

    ROLES = {
        "User": (Permission.USE_API, True),
        "Administrator": (Permission.USE_API | Permission.ADMIN, False),
    }

    @classmethod
    def insert_roles(cls):
        """Create or update the built-in roles; safe to run any number of times."""
        for name, (permissions, default) in cls.ROLES.items():
            role = db.session.scalar(select(cls).where(cls.name == name)) or cls(name=name)
            role.permissions = permissions
            role.default = default
            db.session.add(role)
        db.session.commit()

    @classmethod
    def default_role(cls):
        return db.session.scalar(select(cls).where(cls.default.is_(True)))

    @classmethod
    def admin_role(cls):
        return db.session.scalar(select(cls).where(cls.name == "Administrator"))

    def has_permission(self, permission):
        return self.permissions & permission == permission

    def __repr__(self):
        return f"<Role {self.name}>"


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True, index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    password_hash: Mapped[str] = mapped_column(String(256))
    confirmed: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    role_id: Mapped[int | None] = mapped_column(ForeignKey("roles.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Carried by every emailed link; replacing it (on a password change) voids them all.
    session_token: Mapped[str] = mapped_column(
        String(64), unique=True, index=True, default=new_session_token
    )

    role: Mapped[Role | None] = relationship(back_populates="users")
    messages: Mapped[list["Message"]] = relationship(back_populates="user")
    # Deleted by the ORM, not left to the database: SQLite does not enforce foreign keys
    # here and reuses the last id, so an orphaned sign-in would open the next new account.
    login_sessions: Mapped[list["LoginSession"]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )

    # The sign-in this request came with (a SignedIn, set by the user loader), its token,
    # and the role's permissions as read with the user (see can()).
    login_session = None
    login_token = None
    loaded_permissions = loaded_role_name = None

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if self.role is None:
            self.role = Role.default_role()

    @staticmethod
    def normalise_email(email):
        return normalise_email(email)

    @classmethod
    def by_email(cls, email):
        return db.session.scalar(select(cls).where(cls.email == cls.normalise_email(email)))

    @property
    def is_active(self):
        return self.active

    def get_id(self):
        # What Flask-Login keeps in the session and the remember-me cookie: the token of
        # this sign-in, so that ending it on the server ends every copy of the cookie.
        return self.login_token

    def set_password(self, password):
        """Set the password; voids emailed links and ends every signed-in session."""
        self.password_hash = generate_password_hash(
            password, method=current_app.config["PASSWORD_HASH_METHOD"]
        )
        self.session_token = new_session_token()
        if self.id is not None:
            LoginSession.end_all(self)

    def login_sessions_newest_first(self):
        return db.session.execute(LOGIN_SESSIONS_OF, {"user_id": self.id}).all()

    def verify_password(self, password):
        return check_password_hash(self.password_hash, password)

    def can(self, permission):
        # The permissions read with the user, unless a role was set since (forget_loaded_role).
        if self.loaded_permissions is not None:
            return self.loaded_permissions & permission == permission
        return self.role is not None and self.role.has_permission(permission)

    @property
    def role_name(self):
        """The role's name (None without a role), read with the user as can()'s are."""
        if self.loaded_permissions is not None:
            return self.loaded_role_name
        return self.role.name if self.role is not None else None

    @property
    def is_admin(self):
        return self.can(Permission.ADMIN)

    @property
    def display_name(self):
        return self.name or self.email

    def ping(self, now=None):
        """Record activity, at most once a minute so page views do not all write."""
        now = now or utcnow()
        if self.last_seen_at is None or now - self.last_seen_at > timedelta(minutes=1):
            self.last_seen_at = now
            return True
        return False

    # Signed tokens for the links we email. Each carries the user's session token,
    # so a password change (which replaces it) voids every link issued before.
    def make_token(self, purpose, **extra):
        payload = {"id": self.id, "session": self.session_token, **extra}
        return _serializer(purpose).dumps(payload)

    @classmethod
    def from_token(cls, purpose, token, max_age):
        """Return (user, payload) for a valid token, or (None, None)."""
        try:
            payload = _serializer(purpose).loads(token, max_age=max_age)
        except BadSignature:  # also covers SignatureExpired
            return None, None
        if not isinstance(payload, dict):
            return None, None
        user = db.session.get(cls, payload.get("id"))
        if user is None or user.session_token != payload.get("session"):
            return None, None
        return user, payload

    def __repr__(self):
        return f"<User {self.email}>"


class AnonymousUser(AnonymousUserMixin):
    is_admin = False

    def can(self, permission):
        return False


class Message(db.Model):
    """A message sent through the contact form."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    read: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )

    user: Mapped[User | None] = relationship(back_populates="messages")


def _serializer(purpose):
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=f"sheetport-{purpose}")


login_manager.anonymous_user = AnonymousUser


class LoginSession(db.Model):
    """One signed-in browser. The cookie carries a random token; the row holds its hash, so
    deleting the row (log out, log out everywhere, password change) ends every copy of
    that cookie, remember-me included."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    remember: Mapped[bool] = mapped_column(default=False)
    user_agent: Mapped[str] = mapped_column(String(200), default="")
    address: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(back_populates="login_sessions")

    @staticmethod
    def hash(token):
        return hashlib.sha256(token.encode()).hexdigest()

    @classmethod
    def open(cls, user, remember=False, user_agent="", address=None):
        """Record a sign-in; returns the token for the cookie (only its hash is stored)."""
        token = secrets.token_urlsafe(32)
        db.session.add(
            cls(
                user=user,
                token_hash=cls.hash(token),
                remember=remember,
                user_agent=(user_agent or "")[:200],
                address=address,
            )
        )
        return token

    @classmethod
    def end_all(cls, user):
        db.session.execute(delete(cls).where(cls.user_id == user.id))


# The account page's list, built once (as SIGNED_IN_USER below), as plain rows.
LOGIN_SESSIONS_OF = (
    select(
        LoginSession.id,
        LoginSession.user_agent,
        LoginSession.address,
        LoginSession.remember,
        LoginSession.created_at,
        LoginSession.last_seen_at,
    )
    .where(LoginSession.user_id == bindparam("user_id"))
    .order_by(LoginSession.last_seen_at.desc(), LoginSession.id.desc())
)

# Every signed-in request runs it: built once (SQLAlchemy then reuses its compiled form
# without building and keying the statement again). One ORM object, the user: the sign-in
# and the role's permissions (every page asks, for the Admin link) come as plain columns
# of the same row, as two more ORM objects made a page's first query much slower
# (docs/benchmarks.md).
# Inactive users are not loaded at all, so deactivation takes effect at once.
SIGNED_IN_USER = (
    select(
        User,
        LoginSession.id,
        LoginSession.remember,
        LoginSession.last_seen_at,
        Role.permissions,
        Role.name,
    )
    .join_from(LoginSession, User, LoginSession.user_id == User.id)
    .outerjoin(Role, User.role_id == Role.id)
    .where(LoginSession.token_hash == bindparam("token_hash"), User.active.is_(True))
)


@event.listens_for(User.role, "set")
@event.listens_for(User.role_id, "set")
def forget_loaded_role(user, value, old, initiator):
    """A role set in the request: can() and role_name read it, not what came with the user."""
    user.loaded_permissions = user.loaded_role_name = None


@dataclass
class SignedIn:
    """The sign-in (a LoginSession row) a request came with, as read with its user."""

    id: int
    remember: bool
    last_seen_at: datetime

    def ping(self, now=None):
        """Record activity, at most once a minute; True if it wrote."""
        now = now or utcnow()
        if now - self.last_seen_at <= timedelta(minutes=1):
            return False
        self.last_seen_at = now
        db.session.execute(
            update(LoginSession).where(LoginSession.id == self.id).values(last_seen_at=now)
        )
        return True

    def end(self):
        """Log this sign-in out: every copy of its cookie stops working."""
        db.session.execute(delete(LoginSession).where(LoginSession.id == self.id))


@login_manager.user_loader
def load_user(token):
    if not isinstance(token, str) or not token:
        return None
    found = db.session.execute(SIGNED_IN_USER, {"token_hash": LoginSession.hash(token)}).first()
    if found is None:
        return None
    user, session_id, remember, last_seen_at, permissions, role_name = found
    user.login_session = SignedIn(session_id, remember, last_seen_at)
    user.login_token, user.loaded_permissions, user.loaded_role_name = token, permissions, role_name
    return user


def normalise_email(email):
    """One spelling per mailbox, so look-alike addresses cannot make separate accounts:
    NFKC (full-width letters, composed accents), case-folded, the domain in its IDNA
    ASCII form (bücher.example and xn--bcher-kva.example are one domain)."""
    email = unicodedata.normalize("NFKC", (email or "").strip())
    email = unicodedata.normalize("NFKC", email.casefold())
    local, at, domain = email.rpartition("@")
    if not at or not domain:
        return email
    # Not a valid domain: leave it as it is for the form's validator to refuse.
    with contextlib.suppress(idna.IDNAError, UnicodeError):
        domain = idna.encode(domain.rstrip("."), uts46=True).decode("ascii")
    return f"{local}@{domain}"


# A real hash to check against when no account matches, so that a wrong address
# takes as long to refuse as a wrong password.
_DUMMY_HASH = generate_password_hash("not a real password")


def authenticate(email, password):
    """The user with this email and password, or None."""
    user = User.by_email(email)
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    return user if user.verify_password(password) else None


class Owned:
    """What a user or a visitor owns (a conversion, a batch): a public id for its address,
    and its owner: an account, or a visitor's session key."""

    public_id: Mapped[str] = mapped_column(
        String(32), unique=True, index=True, default=lambda: secrets.token_urlsafe(16)
    )
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    session_key: Mapped[str | None] = mapped_column(String(64), index=True)


class Conversion(Owned, db.Model):
    """One uploaded file and what was made of it. The job updates status and progress here,
    so any web process can answer for it."""

    __tablename__ = "conversions"

    QUEUED, RUNNING, DONE, FAILED, UPLOADED = "queued", "running", "done", "failed", "uploaded"
    CANCELLED = "cancelled"  # stopped by its owner (or an admin) while queued or running

    id: Mapped[int] = mapped_column(primary_key=True)
    original_name: Mapped[str] = mapped_column(String(255))
    stored_name: Mapped[str] = mapped_column(String(64))
    detected_format: Mapped[str] = mapped_column(String(16))
    size: Mapped[int] = mapped_column(default=0)
    info: Mapped[dict] = mapped_column(db.JSON, default=dict)  # engine's inspect(): sheets etc.
    # The kept previews' cells, by sheet (up to megabytes for a wide sheet), apart from `info`
    # (their sizes and keys): read only when a preview table is drawn, which a page whose
    # table HTML is kept (app/templating.py) does not need.
    preview_rows: Mapped[dict | None] = mapped_column(db.JSON, default=dict, deferred=True)
    options: Mapped[dict] = mapped_column(db.JSON, default=dict)
    output_format: Mapped[str | None] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), default="uploaded", index=True)
    progress_done: Mapped[int] = mapped_column(default=0)
    progress_total: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    result_name: Mapped[str | None] = mapped_column(String(255))
    result_stored_name: Mapped[str | None] = mapped_column(String(64))
    result_size: Mapped[int | None] = mapped_column()
    rows: Mapped[int | None] = mapped_column()
    warnings: Mapped[list] = mapped_column(db.JSON, default=list)
    notify: Mapped[bool] = mapped_column(default=False)
    # The batch it was uploaded in, with other files (app/batches.py); None: on its own.
    batch_id: Mapped[int | None] = mapped_column(
        ForeignKey("batches.id", ondelete="SET NULL"), index=True
    )
    # Where the API client that started the job wants to hear that it ended (app/webhooks.py),
    # signed with the secret of the token it used.
    callback_url: Mapped[str | None] = mapped_column(String(2048))
    callback_token_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_tokens.id", ondelete="SET NULL")
    )
    # The lease of the job's current run: a random token held by whichever runner has the job,
    # and an expiry that runner keeps pushing forward (app/jobs/). Any process may fail or
    # requeue a queued or running job whose lease has expired.
    runner: Mapped[str | None] = mapped_column(String(80))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)

    user: Mapped[User | None] = relationship()
    # Every result file written for this upload, the current one and earlier ones: deleting
    # the conversion walks them, so no file outlives its row.
    results: Mapped[list["ConversionResult"]] = relationship(
        back_populates="conversion", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def percent(self):
        if self.status == self.DONE:
            return 100
        if not self.progress_total:
            return 0
        return min(99, int(100 * self.progress_done / self.progress_total))

    @property
    def finished(self):
        """The job ended: done, failed, or cancelled."""
        return self.status in (self.DONE, self.FAILED, self.CANCELLED)

    def is_expired(self, now=None):
        return (now or utcnow()) >= self.expires_at


class ConversionResult(db.Model):
    """One file a conversion wrote. The row exists before the file does (complete=False while
    the job writes it), so a job that dies still leaves a row that says which file to delete."""

    __tablename__ = "conversion_results"
    # A job discarding its result deletes the row itself, possibly while the owner deletes
    # the conversion with its results (ending a session mid-job): a row already gone is what
    # both wanted, not a warning.
    __mapper_args__ = {"confirm_deleted_rows": False}

    id: Mapped[int] = mapped_column(primary_key=True)
    conversion_id: Mapped[int] = mapped_column(
        ForeignKey("conversions.id", ondelete="CASCADE"), index=True
    )
    stored_name: Mapped[str] = mapped_column(String(64), unique=True)
    output_format: Mapped[str] = mapped_column(String(8))
    complete: Mapped[bool] = mapped_column(default=False)
    name: Mapped[str | None] = mapped_column(String(255))  # the download name
    size: Mapped[int | None] = mapped_column()
    rows: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    conversion: Mapped[Conversion] = relationship(back_populates="results")


class OutgoingMail(db.Model):
    """An email not yet sent. Kept so that a mail server that refuses or never answers
    delays a message instead of losing it (app/email.py retries it); deleted once sent,
    since it may carry a sign-in link."""

    __tablename__ = "outgoing_mail"

    id: Mapped[int] = mapped_column(primary_key=True)
    recipients: Mapped[list] = mapped_column(db.JSON)
    sender: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # Which process is sending it now, until when: two processes never send one message twice.
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PeriodicRun(db.Model):
    """When a periodic task last ran: every process ticks, one of them runs it per interval."""

    __tablename__ = "periodic_runs"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_run_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RateLimitCounter(db.Model):
    """Flask-Limiter's counters when no Redis is configured (app/ratelimit.py), shared by
    every process that uses the database."""

    __tablename__ = "rate_limit_counters"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    count: Mapped[int] = mapped_column(default=0)
    expires_at: Mapped[float] = mapped_column(index=True)  # seconds since the epoch


class AuditEvent(db.Model):
    """Something that happened, written by the code that did it."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    actor_email: Mapped[str | None] = mapped_column(String(254))  # kept if the actor is deleted
    action: Mapped[str] = mapped_column(String(40), index=True)
    target: Mapped[str | None] = mapped_column(String(255))
    address: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    actor: Mapped[User | None] = relationship()


class Setting(db.Model):
    """A value admins changed at run time, over the config default (see app/settings.py)."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict] = mapped_column(db.JSON)  # {"value": ...}
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ApiToken(db.Model):
    """A personal API token. Only a SHA-256 of the secret is kept: the secret is 32 random
    bytes, so a fast hash is as safe as a slow one (nothing to guess) and lets every API
    request find its token with one indexed lookup."""

    __tablename__ = "api_tokens"

    PREFIX = "spt_"  # lets secret scanners and people recognise a Sheetport token

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    hint: Mapped[str] = mapped_column(
        String(12)
    )  # the secret's last characters, to tell tokens apart
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Webhooks (app/webhooks.py): the callback for conversions started with this token when
    # they name none, and the secret deliveries are signed with. Kept as it is, not hashed:
    # signing needs it. Shown once, when made.
    webhook_url: Mapped[str | None] = mapped_column(String(2048))
    webhook_secret: Mapped[str | None] = mapped_column(String(80))

    # The backref lets deleting a user delete their tokens also where the database does not
    # enforce the foreign key (SQLite).
    user: Mapped[User] = relationship(
        backref=backref("api_tokens", cascade="all, delete-orphan", lazy="select")
    )

    @staticmethod
    def hash_secret(secret):
        return hashlib.sha256(secret.encode()).hexdigest()

    @classmethod
    def issue(cls, user, name, expires_at=None):
        """A new token and its secret, which is shown once and never stored."""
        secret = cls.PREFIX + secrets.token_urlsafe(32)
        token = cls(
            user=user,
            name=name,
            token_hash=cls.hash_secret(secret),
            hint=secret[-4:],
            expires_at=expires_at,
        )
        return token, secret

    @classmethod
    def find(cls, secret):
        return db.session.scalar(select(cls).where(cls.token_hash == cls.hash_secret(secret)))

    @classmethod
    def revoke_all(cls, user):
        """Revoke every live token of the user; the rows stay, marked, for the token list."""
        db.session.execute(
            update(cls)
            .where(cls.user_id == user.id, cls.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )

    def is_expired(self, now=None):
        return self.expires_at is not None and (now or utcnow()) >= self.expires_at

    @property
    def state(self):
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.is_expired() else "active"

    def valid(self, now=None):
        """Neither revoked nor expired, and its owner's account is active."""
        user = self.user
        return (
            self.revoked_at is None
            and not self.is_expired(now)
            and user is not None
            and user.active
        )


class WebhookDelivery(db.Model):
    """One event to POST to a callback URL: kept until delivered, retried with backoff, and
    then kept a while as the token owner's delivery log (app/webhooks.py). The event's id
    (`public_id`) is the same on every attempt, so a receiver can drop duplicates."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    token_id: Mapped[int] = mapped_column(
        ForeignKey("api_tokens.id", ondelete="CASCADE"), index=True
    )
    event: Mapped[str] = mapped_column(String(40))
    conversion_public_id: Mapped[str | None] = mapped_column(String(32))
    url: Mapped[str] = mapped_column(String(2048))
    body: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    last_status: Mapped[int | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # No passive_deletes: SQLite does not cascade here, and reuses a deleted token's id, so
    # the ORM deletes a token's deliveries itself (else the next token would show them).
    token: Mapped[ApiToken] = relationship(
        backref=backref("webhook_deliveries", cascade="all, delete-orphan")
    )

    @property
    def state(self):
        if self.delivered_at is not None:
            return "delivered"
        return "retrying" if self.next_attempt_at is not None else "failed"


class Batch(Owned, db.Model):
    """Files uploaded together (several chosen at once, or a zip of spreadsheets), converted
    with the same options and downloaded as one zip (app/batches.py). Each file is a
    Conversion of its own; the batch owns them as its owner does."""

    __tablename__ = "batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Files that were not taken, with why: [{"name": ..., "error": ...}].
    refused: Mapped[list] = mapped_column(db.JSON, default=list)
    options: Mapped[dict] = mapped_column(db.JSON, default=dict)  # the last "Convert all"'s
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    conversions: Mapped[list[Conversion]] = relationship(
        order_by=Conversion.id, passive_deletes=True
    )
