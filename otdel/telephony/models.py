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


class WebhookDelivery(models.Model):
    """A signed webhook delivery that was accepted. Its signature vouches for this one call: the
    same signature with another call id is a forgery, even after a cache flush or on another
    app process (Zadarma does not sign the call id)."""

    provider = models.CharField(_("provider"), max_length=16)
    source = models.CharField(_("phone system"), max_length=64)
    event = models.CharField(_("event"), max_length=64)
    # sha256 hex of the event name and the text the provider signed: the signature is a function
    # of that text, so equal digests mean the same signature.
    digest = models.CharField(_("signature digest"), max_length=64)
    external_id = models.CharField(_("call id"), max_length=128)
    # Read from otdel.core.clock, not auto_now_add, so tests can move time and pruning follows.
    received_at = models.DateTimeField(_("received at"), db_index=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "source", "digest"], name="webhook_delivery_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider}:{self.source}:{self.event}:{self.external_id}"


class WebhookRateWindow(models.Model):
    """How many webhook requests one address or one source made in one fixed time window."""

    scope = models.CharField(_("counted by"), max_length=8)  # "ip" or "source"
    subject = models.CharField(_("address or source"), max_length=128)
    window_start = models.DateTimeField(_("window start"))
    hits = models.PositiveIntegerField(_("requests"), default=0)

    class Meta:
        verbose_name = _("webhook rate window")
        verbose_name_plural = _("webhook rate windows")
        constraints = [
            # window_start first: the same index serves the per-request upsert and the pruning
            # of finished windows (a range on window_start), so the table needs no other index.
            models.UniqueConstraint(
                fields=["window_start", "scope", "subject"], name="webhook_rate_window_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.scope}:{self.subject}@{self.window_start:%H:%M:%S} = {self.hits}"
