"""Dashboard accounts: creating them, signing in, resetting passwords, who sees what.

An administrator sees and manages every cooperative; a coordinator only her own. Every view
and command asks :func:`visible_cooperative_ids` or :func:`require_cooperative`, never the
role directly.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..exceptions import InvalidPhoneNumber, NotPermitted, Refused
from ..models import Account, AccountRole, Cooperative, Language, Member, Role
from ..phones import normalize_phone
from ..security import MIN_PASSWORD_LENGTH, hash_password
from . import audit


@dataclass(frozen=True)
class Actor:
    """Who does something, and through which channel, for the audit row."""

    label: str
    channel: str
    account: Account | None = None
    member: Member | None = None


def operator(channel: str = "cli") -> Actor:
    """The operator at the server's command line: may do anything."""
    return Actor("operator", channel)


def actor_for(account: Account, channel: str) -> Actor:
    """An account acting through ``channel``."""
    return Actor(account.label, channel, account=account, member=account.member)


def visible_cooperative_ids(session: Session, account: Account | None) -> set[int]:
    """The cooperatives an account may see: all for an administrator, her own otherwise."""
    if account is None or not account.active:
        return set()
    if account.is_administrator:
        return set(session.scalars(select(Cooperative.id)))
    return {account.cooperative_id} if account.cooperative_id is not None else set()


def may_manage(actor: Actor, cooperative_id: int) -> bool:
    """Whether ``actor`` may read or change the cooperative's records."""
    if actor.account is None:
        return actor.label == "operator"
    account = actor.account
    return account.active and (account.is_administrator
                               or account.cooperative_id == cooperative_id)


def require_cooperative(session: Session, actor: Actor, cooperative_id: int) -> Cooperative:
    """The cooperative, when ``actor`` may manage it; :class:`NotPermitted` otherwise.

    Another cooperative's id is answered like an unknown one: nothing says it exists.
    """
    coop = session.get(Cooperative, cooperative_id)
    if coop is None or not may_manage(actor, cooperative_id):
        raise NotPermitted(f"cooperative {cooperative_id}: not found")
    return coop


def record(session: Session, actor: Actor, action: str, entity: str, entity_id: int | None,
           cooperative_id: int | None, **details: object) -> None:
    """The audit row of a change made by ``actor`` (in the caller's transaction)."""
    audit.record(session, action, entity, entity_id, channel=actor.channel, actor=actor.member,
                 actor_label=actor.label, cooperative_id=cooperative_id, details=details)


def find_account(session: Session, phone: str) -> Account | None:
    """The active account signing in with ``phone`` (E.164), or None."""
    return session.scalar(select(Account).where(Account.phone == phone,
                                                Account.active.is_(True)))


def generate_password() -> str:
    """A one-time password to hand over in person: 12 characters, easy to read aloud."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(3))


def _phone(raw: str, region: str) -> str:
    try:
        return normalize_phone(raw, region)
    except InvalidPhoneNumber as error:
        raise Refused("phone", str(error)) from None


def _password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Refused("password", f"at least {MIN_PASSWORD_LENGTH} characters")
    return hash_password(password)


def create_account(session: Session, actor: Actor, *, phone: str, name: str, role: str,
                   password: str, region: str, cooperative_id: int | None = None,
                   language: str = "fr") -> Account:
    """Create an administrator or a coordinator account (the caller commits).

    A coordinator belongs to one cooperative; her membership there is found by phone, or
    added (as a coordinator) so that she can also decide by USSD and SMS.
    """
    if actor.account is not None and not actor.account.is_administrator:
        raise NotPermitted("role: only an administrator creates accounts")
    e164 = _phone(phone, region)
    try:
        account_role = AccountRole(role)
    except ValueError:
        raise Refused("role", f"{role!r} is not administrator or coordinator") from None
    if language not in {lang.value for lang in Language}:
        raise Refused("language", f"unknown language {language!r}")
    if session.scalar(select(Account.id).where(Account.phone == e164)) is not None:
        raise Refused("phone", f"{e164} already has an account")
    member = None
    if account_role == AccountRole.COORDINATOR:
        if cooperative_id is None:
            raise Refused("cooperative", "a coordinator belongs to a cooperative")
        coop = require_cooperative(session, actor, cooperative_id)
        member = _coordinator_membership(session, coop, e164, name, language)
    elif cooperative_id is not None:
        raise Refused("cooperative", "an administrator sees every cooperative, not one")
    account = Account(phone=e164, name=name.strip(), role=account_role,
                      cooperative_id=cooperative_id, member=member,
                      password_hash=_password(password), language=Language(language))
    session.add(account)
    session.flush()
    record(session, actor, "account.create", "account", account.id, cooperative_id,
           phone=e164, role=str(account_role))
    return account


def _coordinator_membership(session: Session, coop: Cooperative, phone: str, name: str,
                            language: str) -> Member:
    member = session.scalar(select(Member).where(Member.cooperative_id == coop.id,
                                                 Member.phone == phone))
    if member is None:
        member = Member(cooperative=coop, phone=phone, name=name.strip(),
                        language=Language(language), role=Role.COORDINATOR)
        session.add(member)
        session.flush()
    elif member.role != Role.COORDINATOR:
        member.role = Role.COORDINATOR
    return member


def list_accounts(session: Session, actor: Actor) -> list[Account]:
    """The accounts ``actor`` may see, administrators first."""
    query = select(Account).order_by(Account.role, Account.phone)
    if actor.account is not None and not actor.account.is_administrator:
        query = query.where(Account.cooperative_id == actor.account.cooperative_id)
    return list(session.scalars(query))


def _target(session: Session, actor: Actor, phone: str, region: str) -> Account:
    e164 = _phone(phone, region)
    account = session.scalar(select(Account).where(Account.phone == e164))
    if account is None:
        raise Refused("phone", f"no account for {e164}")
    if actor.account is not None and not actor.account.is_administrator:
        raise NotPermitted("role: only an administrator manages accounts")
    return account


def reset_password(session: Session, actor: Actor, phone: str, region: str,
                   password: str | None = None) -> tuple[Account, str]:
    """Give an account a new password (generated when none is given); return it once."""
    account = _target(session, actor, phone, region)
    password = password or generate_password()
    account.password_hash = _password(password)
    record(session, actor, "account.reset_password", "account", account.id,
           account.cooperative_id)
    return account, password


def deactivate_account(session: Session, actor: Actor, phone: str, region: str) -> Account:
    """Stop an account from signing in (its history stays)."""
    account = _target(session, actor, phone, region)
    if not account.active:
        raise Refused("phone", f"{account.phone} is already deactivated")
    account.active = False
    record(session, actor, "account.deactivate", "account", account.id, account.cooperative_id)
    return account
