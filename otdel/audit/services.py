"""Writing the audit trail; called by services inside their transaction."""

from __future__ import annotations

from typing import Any

from django.db import models

from otdel.audit.models import AuditEvent
from otdel.core import clock


def record(
    *,
    actor: Any,
    verb: str,
    obj: models.Model | None = None,
    obj_type: str = "",
    obj_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one audit event (actor None means the system)."""
    if obj is not None:
        obj_type = obj._meta.label_lower
        obj_id = obj.pk
    return AuditEvent.objects.create(
        at=clock.now(),
        actor=actor if getattr(actor, "pk", None) else None,
        verb=verb,
        object_type=obj_type,
        object_id=obj_id,
        data=data or {},
    )
