"""Who an owner cell names (a username or a person's full name), and whether he may take more."""

from __future__ import annotations

import re

from django.utils.translation import gettext as _

from otdel.ownership.policy import policy_in_force
from otdel.ownership.services import cap_usage
from otdel.people.models import Team, User


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower().replace("ё", "е").replace(".", ". ")).strip()


class OwnerDirectory:
    """Resolves owner cells to people and counts each person's cap as rows are assigned.

    The cap is checked against the clients he owns now plus the rows of this file already given
    to him, so the preview marks exactly the rows that would push him over.
    """

    def __init__(self, team: Team):
        self.team = team
        self.policy = policy_in_force(team.pk)
        self._by_name: dict[str, list[User]] = {}
        for user in User.objects.filter(is_active=True):
            names = {
                user.username.lower(),
                _norm(f"{user.last_name} {user.first_name}"),
                _norm(f"{user.first_name} {user.last_name}"),
                _norm(f"{user.last_name} {user.first_name} {user.patronymic}"),
                _norm(user.short_name),
            }
            for name in names:
                if name:
                    bucket = self._by_name.setdefault(name, [])
                    if user not in bucket:
                        bucket.append(user)
        self._room: dict[int, int] = {}
        self._usage: dict[int, tuple[int, int]] = {}
        self.users: dict[int, User] = {}

    def resolve(self, cell: str) -> tuple[User | None, str]:
        """The person a cell names, or an explanation why it names nobody usable."""
        key = cell.strip().lower()
        found = self._by_name.get(key) or self._by_name.get(_norm(cell), [])
        if not found:
            return None, _("no active user “%(name)s”") % {"name": cell}
        if len(found) > 1:
            return None, _("“%(name)s” matches several people: use the login") % {"name": cell}
        user = found[0]
        if not user.owns_clients:
            return None, _("%(name)s does not keep a personal base") % {"name": user.display_name}
        if user.team_id is not None and user.team_id != self.team.pk:
            return None, _("%(name)s is in another team") % {"name": user.display_name}
        return user, ""

    def take(self, user: User) -> str:
        """Count one more client for the person; the reason if that passes his cap."""
        if user.pk not in self._room:
            usage = cap_usage(user, self.policy)
            self._room[user.pk] = usage.cap - usage.owned
            self._usage[user.pk] = (usage.owned, usage.cap)
            self.users[user.pk] = user
        if self._room[user.pk] <= 0:
            owned, cap = self._usage[user.pk]
            values = {"name": user.display_name, "cap": cap, "owned": owned}
            if owned >= cap:
                return _("over the cap: %(name)s owns %(owned)s of %(cap)s clients") % values
            return (
                _(
                    "over the cap: %(name)s owns %(owned)s of %(cap)s clients and earlier rows of "
                    "this file take the rest"
                )
                % values
            )
        self._room[user.pk] -= 1
        return ""
