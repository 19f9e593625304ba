"""Template context shared by every page."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest


def otdel(request: HttpRequest) -> dict[str, Any]:
    """Navigation facts for the header: the viewer's role flags and unread notifications."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    from otdel.ownership.policies import may_import, may_merge_anything
    from otdel.people.selectors import unread_notification_count
    from otdel.sales.policies import can_import_money, can_resolve_import_rows

    return {
        "is_head": user.is_head_of_sales,
        "works_on_base": may_merge_anything(user),
        "may_import": may_import(user),
        "may_import_money": can_import_money(user),
        "may_resolve_money_rows": can_resolve_import_rows(user),
        "unread_notifications": unread_notification_count(user),
    }
