"""Which phone-system account (an extension, a SIP login) belongs to which person."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class PhoneAccount(models.Model):
    """An extension or SIP account of a person on one phone system; calls on it are his."""

    source = models.CharField(_("phone system"), max_length=64)
    account = models.CharField(_("extension or SIP account"), max_length=64)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="phone_accounts"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("phone account")
        verbose_name_plural = _("phone accounts")
        constraints = [
            models.UniqueConstraint(fields=["source", "account"], name="phone_account_unique")
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.account}"
