"""Reads about people, always for a viewer."""

from __future__ import annotations

from django.db.models import QuerySet

from otdel.people.models import ApiToken, Notification, User


def unread_notification_count(viewer: User) -> int:
    """How many notifications the viewer has not read."""
    return Notification.objects.filter(recipient=viewer, read_at__isnull=True).count()


def notifications_for(viewer: User, *, limit: int = 50) -> QuerySet[Notification]:
    """The viewer's own notifications, newest first."""
    return Notification.objects.filter(recipient=viewer).select_related("client")[:limit]


def api_tokens_for(viewer: User) -> QuerySet[ApiToken]:
    """The viewer's own live tokens."""
    return ApiToken.objects.filter(user=viewer, revoked_at__isnull=True)


def active_people(viewer: User) -> QuerySet[User]:
    """Everyone active in the department (everyone may see who is who)."""
    return User.objects.filter(is_active=True).select_related("team")
