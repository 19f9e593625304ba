"""Policies as versioned documents: one approved version per row, never edited, in force from
its date. Ownership, effective-call and (later) routing policies and pay plans share this."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.db import models, transaction
from django.utils.translation import gettext as _
from pydantic import BaseModel

from otdel.audit.services import record
from otdel.core import clock
from otdel.core.errors import Invalid

Doc = TypeVar("Doc", bound=BaseModel)
Record = TypeVar("Record", bound="PolicyVersion")


class PolicyVersion(models.Model):
    """One approved version of a team's policy document (abstract: each policy has its table)."""

    version = models.PositiveIntegerField()
    effective_from = models.DateTimeField()
    document = models.JSONField()
    comment = models.CharField(max_length=500, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField()

    class Meta:
        abstract = True
        ordering = ["team", "-version"]

    def __str__(self) -> str:
        return f"{getattr(self, 'team', '')} v{self.version}"


def version_in_force(
    model: type[PolicyVersion], team_id: int, at: dt.datetime | None = None
) -> Any:
    """The latest version of a team's policy effective at `at` (now by default), or None."""
    return (
        model._default_manager.filter(team_id=team_id, effective_from__lte=at or clock.now())
        .order_by("-effective_from", "-version")
        .first()
    )


def publish_version(
    model: type[PolicyVersion],
    *,
    team_id: int,
    document: BaseModel,
    effective_from: dt.datetime,
    actor: Any,
    verb: str,
    comment: str = "",
) -> Any:
    """Save a new approved version (numbered after the last one), never in the past, and audit
    it as `verb` with the whole document. The caller checks who may publish."""
    now = clock.now()
    if effective_from < now - dt.timedelta(minutes=5):
        raise Invalid(_("A new version cannot take effect in the past."), code="backdated")
    with transaction.atomic():
        last = (
            model._default_manager.select_for_update()
            .filter(team_id=team_id)
            .order_by("-version")
            .first()
        )
        version = model._default_manager.create(
            team_id=team_id,
            version=(last.version if last else 0) + 1,
            effective_from=max(effective_from, now),
            document=document.model_dump(mode="json"),
            comment=comment,
            approved_by=actor,
            created_at=now,
        )
        record(
            actor=actor,
            verb=verb,
            obj=version,
            data={
                "version": version.version,
                "effective_from": version.effective_from.isoformat(),
                "document": version.document,
                "comment": comment,
            },
        )
    return version


@dataclass(frozen=True)
class InForce(Generic[Record, Doc]):
    """A policy document in force and the version record it came from (None: the defaults)."""

    record: Record | None
    doc: Doc

    @property
    def version(self) -> int:
        return self.record.version if self.record else 0


def document_in_force(
    model: type[Record], document: type[Doc], team_id: int, at: dt.datetime | None = None
) -> InForce[Record, Doc]:
    """The team's policy document in force at `at` (now by default); the defaults if none."""
    record = version_in_force(model, team_id, at)
    if record is None:
        return InForce(None, document())
    return InForce(record, document.model_validate(record.document))
