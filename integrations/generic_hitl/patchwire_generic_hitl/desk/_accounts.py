"""Agent accounts and their logins: argon2 password hashes, and tokens stored only as hashes.

A login is a random token handed to the agent once: as an HttpOnly cookie for the page (which
also gets a CSRF token it must echo on every POST), or as a bearer token for scripts. The
database keeps its SHA-256, so reading the database does not let anyone in.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any, Literal, cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from patchwire_generic_hitl.desk._tables import NAME_LENGTH, AgentRow, LoginFailuresRow, LoginRow

__all__ = [
    "LOGIN_SECONDS",
    "MIN_PASSWORD_LENGTH",
    "AccountError",
    "Accounts",
    "Agent",
    "AgentExists",
    "Login",
    "LoginKind",
    "TooManyFailures",
]

LOGIN_SECONDS = 12 * 3600
"""A login lasts a working day; then the agent logs in again."""
MAX_FAILURES = 10
FAILURE_WINDOW_SECONDS = 15 * 60
"""After ``MAX_FAILURES`` wrong passwords for one name, that name waits out the window."""
MIN_PASSWORD_LENGTH = 10
LoginKind = Literal["cookie", "bearer"]

_hasher = PasswordHasher()
_UNUSED_HASH = _hasher.hash(secrets.token_urlsafe(16))
"""Checked against when the name is unknown, so a wrong name costs the same time as a wrong
password and does not tell which names exist."""


class AccountError(ValueError):
    """An account that cannot be made as asked (bad name, short password, name taken)."""


class AgentExists(AccountError):
    """The name is taken (names are compared ignoring case)."""


class TooManyFailures(Exception):
    """Too many wrong passwords for a name lately; ``retry_after`` seconds until it may try."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"too many failed logins for this name: try again in {retry_after // 60 + 1} min"
        )
        self.retry_after = retry_after


@dataclass(frozen=True)
class Agent:
    id: str
    name: str
    admin: bool


@dataclass(frozen=True)
class Login:
    agent: Agent
    kind: LoginKind
    csrf_token: str


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_name(name: str) -> str:
    """The name as stored (trimmed); an :class:`AccountError` saying what is wrong otherwise."""
    cleaned = name.strip()
    if not cleaned:
        raise AccountError("an agent name cannot be empty")
    if len(cleaned) > NAME_LENGTH:
        raise AccountError(
            f"an agent name has at most {NAME_LENGTH} characters, not {len(cleaned)}"
        )
    if any(unicodedata.category(c).startswith("C") for c in cleaned):
        raise AccountError(f"an agent name cannot hold control characters: {cleaned!r}")
    return cleaned


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(
            f"the password has {len(password)} characters: use at least {MIN_PASSWORD_LENGTH}"
        )


class Accounts:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._session = sessions

    async def add(
        self, name: str, password: str, *, admin: bool = False, replace: bool = False
    ) -> Agent:
        """A new account; with ``replace``, an existing one gets the new password and role."""
        cleaned = check_name(name)
        check_password(password)
        hashed = await asyncio.to_thread(_hasher.hash, password)
        key = cleaned.casefold()
        try:
            async with self._session.begin() as session:
                row = await session.scalar(select(AgentRow).where(AgentRow.key == key))
                if row is not None and not replace:
                    raise AgentExists(f"an agent named {row.name!r} exists already")
                if row is None:
                    row = AgentRow(id=f"agent_{uuid.uuid4().hex[:16]}", name=cleaned, key=key)
                    session.add(row)
                else:
                    await session.execute(delete(LoginRow).where(LoginRow.agent_id == row.id))
                row.password_hash = hashed
                row.admin = admin
        except IntegrityError:
            raise AgentExists(f"an agent named {cleaned!r} exists already") from None
        return Agent(row.id, row.name, row.admin)

    async def authenticate(self, name: str, password: str) -> Agent | None:
        """The agent when the name and password match; None otherwise (which one is not said).

        Each name gets :data:`MAX_FAILURES` tries per :data:`FAILURE_WINDOW_SECONDS`; past
        that, :class:`TooManyFailures` until the window ends (guessing one agent's password
        takes years, not hours). A success forgets the failures.
        """
        key = name.strip().casefold()
        failures_key = hashlib.sha256(key.encode()).hexdigest()
        await self._check_failures(failures_key)
        async with self._session() as session:
            row = await session.scalar(select(AgentRow).where(AgentRow.key == key))
        stored = row.password_hash if row is not None else _UNUSED_HASH
        try:
            await asyncio.to_thread(_hasher.verify, stored, password)
        except (VerificationError, InvalidHashError):
            await self._count_failure(failures_key)
            return None
        if row is None:
            await self._count_failure(failures_key)
            return None
        async with self._session.begin() as session:
            await session.execute(
                delete(LoginFailuresRow).where(LoginFailuresRow.key == failures_key)
            )
            if _hasher.check_needs_rehash(stored):
                found = await session.get(AgentRow, row.id)
                if found is not None:
                    found.password_hash = await asyncio.to_thread(_hasher.hash, password)
        return Agent(row.id, row.name, row.admin)

    async def _check_failures(self, key: str) -> None:
        async with self._session() as session:
            row = await session.get(LoginFailuresRow, key)
        if row is None or row.failures < MAX_FAILURES:
            return
        left = row.first_at + FAILURE_WINDOW_SECONDS - time.time()
        if left > 0:
            raise TooManyFailures(int(left))

    async def _count_failure(self, key: str) -> None:
        """One more failure for ``key``, counted in SQL so parallel attempts all count."""
        moment = time.time()
        row = LoginFailuresRow
        restart = (
            update(row)
            .where(row.key == key, row.first_at < moment - FAILURE_WINDOW_SECONDS)
            .values(failures=1, first_at=moment)
        )
        bump = update(row).where(row.key == key).values(failures=row.failures + 1)
        for _ in range(2):
            try:
                async with self._session.begin() as session:
                    for statement in (restart, bump):
                        result = cast(CursorResult[Any], await session.execute(statement))
                        if result.rowcount:
                            return
                    session.add(row(key=key, failures=1, first_at=moment))
                return
            except IntegrityError:
                continue  # another attempt made the row first: count on it

    async def start_login(self, agent: Agent, kind: LoginKind) -> tuple[str, Login]:
        """A new login for ``agent``: the token (shown once) and what it stands for."""
        token = secrets.token_urlsafe(32)
        login = Login(agent, kind, secrets.token_urlsafe(32))
        moment = time.time()
        async with self._session.begin() as session:
            await session.execute(delete(LoginRow).where(LoginRow.expires_at < moment))
            session.add(
                LoginRow(
                    token_hash=_token_hash(token),
                    agent_id=agent.id,
                    kind=kind,
                    csrf_token=login.csrf_token,
                    expires_at=moment + LOGIN_SECONDS,
                )
            )
        return token, login

    async def login(self, token: str, kind: LoginKind) -> Login | None:
        """The live login of that kind the token stands for, if any."""
        async with self._session() as session:
            found = (
                await session.execute(
                    select(LoginRow, AgentRow)
                    .join(AgentRow, AgentRow.id == LoginRow.agent_id)
                    .where(
                        LoginRow.token_hash == _token_hash(token),
                        LoginRow.kind == kind,
                        LoginRow.expires_at > time.time(),
                    )
                )
            ).first()
        if found is None:
            return None
        row, agent = found
        return Login(Agent(agent.id, agent.name, agent.admin), kind, row.csrf_token)

    async def end_login(self, token: str) -> None:
        async with self._session.begin() as session:
            await session.execute(delete(LoginRow).where(LoginRow.token_hash == _token_hash(token)))
