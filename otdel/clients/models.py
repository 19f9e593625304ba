"""The client base: a client (group) with legal entities, brands, sites and contacts."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ClientQuerySet(models.QuerySet["Client"]):
    def live(self) -> ClientQuerySet:
        """Clients not merged into another one."""
        return self.filter(merged_into__isnull=True)

    def in_pool(self) -> ClientQuerySet:
        return self.live().filter(owner__isnull=True)


class Client(models.Model):
    """One unit of ownership: a company group, however many legal entities and numbers it has.

    The owner and the ownership clocks are written only by otdel.ownership.services.
    """

    name = models.CharField(_("name"), max_length=300)
    normalized_name = models.CharField(max_length=300, editable=False)
    team = models.ForeignKey(
        "people.Team",
        verbose_name=_("team"),
        on_delete=models.PROTECT,
        related_name="clients",
        db_index=False,
    )
    website = models.CharField(_("web site"), max_length=300, blank=True)
    web_domain = models.CharField(max_length=255, blank=True, editable=False)
    region = models.CharField(_("region"), max_length=120, blank=True)
    industry = models.CharField(_("industry"), max_length=120, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    is_won = models.BooleanField(_("customer (has bought)"), default=False)
    is_locked = models.BooleanField(
        _("locked by the head of sales"),
        default=False,
        help_text=_(
            "A locked client is not returned to the pool automatically if the policy says so."
        ),
    )

    # Ownership state — written only by the ownership services (one door).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="owned_clients",
        # client_owner_name (owner, name) serves every lookup by owner; a second index on the
        # owner alone would only slow down claims and the sweep.,
        db_index=False,
    )
    owned_since = models.DateTimeField(null=True, blank=True)
    protected_until = models.DateTimeField(null=True, blank=True)
    # The return-to-pool clocks: the later of "owned since" and the owner's last qualifying
    # activity; the later of "owned since" and the last shipment.
    activity_clock_at = models.DateTimeField(null=True, blank=True)
    shipment_clock_at = models.DateTimeField(null=True, blank=True)
    last_shipment_at = models.DateTimeField(null=True, blank=True)
    return_warned_at = models.DateTimeField(null=True, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)

    merged_into = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="merged_clients",
        db_index=False,
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    objects = ClientQuerySet.as_manager()

    class Meta:
        verbose_name = _("client")
        verbose_name_plural = _("clients")
        ordering = ["name"]
        indexes = [
            # Every index on this table is written by each claim, release and sweep, so there
            # are only the ones a page or a rule needs; equality lookups use plain b-trees
            # (no LIKE pattern twins), and rare lookups get partial indexes.
            models.Index(fields=["owner", "name"], name="client_owner_name"),
            models.Index(fields=["normalized_name"], name="client_normalized_name"),
            models.Index(fields=["web_domain"], name="client_web_domain"),
            models.Index(
                fields=["merged_into"],
                name="client_merged_into",
                condition=models.Q(merged_into__isnull=False),
            ),
            models.Index(
                fields=["team", "released_at"],
                name="client_pool_released",
                condition=models.Q(owner__isnull=True, merged_into__isnull=True),
            ),
            models.Index(
                fields=["team", "activity_clock_at"],
                name="client_team_actclock",
                condition=models.Q(owner__isnull=False),
            ),
            models.Index(
                fields=["team", "shipment_clock_at"],
                name="client_team_shipclock",
                condition=models.Q(owner__isnull=False),
            ),
            models.Index(
                fields=["team", "name"],
                name="client_pool_name",
                condition=models.Q(owner__isnull=True, merged_into__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return self.name


class LegalEntity(models.Model):
    """A legal entity of a client, identified by ИНН (and КПП for a branch)."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="legal_entities")
    name = models.CharField(_("legal name"), max_length=300)
    inn = models.CharField(_("ИНН"), max_length=12, db_index=True)
    kpp = models.CharField(_("КПП"), max_length=9, blank=True)
    ogrn = models.CharField(_("ОГРН"), max_length=15, blank=True)
    address = models.CharField(_("legal address"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("legal entity")
        verbose_name_plural = _("legal entities")
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} (ИНН {self.inn})"


class Brand(models.Model):
    """A brand the client trades under."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="brands")
    name = models.CharField(_("brand"), max_length=200)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Site(models.Model):
    """A branch, warehouse or office of the client, with its address and region."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="sites")
    name = models.CharField(_("name"), max_length=200)
    address = models.CharField(_("address"), max_length=500, blank=True)
    city = models.CharField(_("city"), max_length=120, blank=True)
    region = models.CharField(_("region"), max_length=120, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Contact(models.Model):
    """A person at the client; the decision maker (ЛПР) is flagged."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="contacts")
    full_name = models.CharField(_("full name"), max_length=300)
    position = models.CharField(_("position"), max_length=200, blank=True)
    is_decision_maker = models.BooleanField(_("decision maker"), default=False)
    email = models.CharField(_("e-mail"), max_length=254, blank=True, db_index=True)
    email_domain = models.CharField(max_length=255, blank=True, db_index=True, editable=False)
    notes = models.TextField(_("notes"), blank=True)

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        ordering = ["-is_decision_maker", "full_name"]

    def __str__(self) -> str:
        return self.full_name


class ContactPhone(models.Model):
    """A phone of a contact, stored in E.164; the client is kept here for fast dedup lookups."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="phones")
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="+")
    e164 = models.CharField(max_length=20, db_index=True)
    raw = models.CharField(max_length=64, blank=True)
    is_mobile = models.BooleanField(default=False)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.e164


from otdel.clients.models_import import ImportJob  # noqa: E402,F401
