"""Reads about people, always for a viewer."""

from __future__ import annotations

from django.db.models import QuerySet

from otdel.people.models import ApiToken, Notification, Role, User


def heads_of_team(team_id: int, *, or_directors: bool = True) -> list[User]:
    """Who is told of a team's escalations: its active heads of sales; with none (and
    `or_directors`), the directors and admins."""
    heads = list(User.objects.filter(is_active=True, role=Role.HEAD_OF_SALES, team_id=team_id))
    if heads or not or_directors:
        return heads
    return list(User.objects.filter(is_active=True, role__in=[Role.DIRECTOR, Role.ADMIN]))


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
