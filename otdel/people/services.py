"""Writes about people: tokens and notifications."""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from django.db import transaction

from otdel.audit.services import record
from otdel.core import clock
from otdel.core.errors import NotFound
from otdel.people.models import ApiToken, Notification, User


def issue_api_token(user: User, *, name: str) -> tuple[ApiToken, str]:
    """Create a personal API token; the secret is returned once and only its hash is kept."""
    secret = "otd_" + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name.strip()[:100] or "API",
            prefix=secret[:12],
            digest=ApiToken.hash_secret(secret),
        )
        record(actor=user, verb="api_token.issued", obj=token, data={"name": token.name})
    return token, secret


def revoke_api_token(token_id: int, *, actor: User) -> None:
    """Revoke one of the actor's own tokens."""
    with transaction.atomic():
        updated = ApiToken.objects.filter(pk=token_id, user=actor, revoked_at__isnull=True).update(
            revoked_at=clock.now()
        )
        if not updated:
            raise NotFound("token not found")
        record(actor=actor, verb="api_token.revoked", obj_type="people.apitoken", obj_id=token_id)


def user_for_token(secret: str) -> User | None:
    """The active user a token belongs to, or None."""
    token = (
        ApiToken.objects.select_related("user")
        .filter(digest=ApiToken.hash_secret(secret), revoked_at__isnull=True)
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=clock.now())
    return token.user


def notify(
    recipients: Iterable[User | int | None],
    *,
    kind: str,
    text: str,
    client_id: int | None = None,
    url: str = "",
) -> None:
    """Leave a notification for each recipient (None entries are skipped)."""
    now = clock.now()
    rows = []
    for r in {r if isinstance(r, int) else r.pk for r in recipients if r is not None}:
        rows.append(
            Notification(
                recipient_id=r, kind=kind, text=text, client_id=client_id, url=url, created_at=now
            )
        )
    Notification.objects.bulk_create(rows)


def mark_notifications_read(user: User) -> int:
    """Mark all the user's notifications read."""
    return Notification.objects.filter(recipient=user, read_at__isnull=True).update(
        read_at=clock.now()
    )
