"""Inbound requests: one kind of ticket for every channel (web form, e-mail, phone, manual),
routed by the team's versioned routing policy; every assignment stores why that person."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from otdel.core.versioned import PolicyVersion


class Channel(models.TextChoices):
    """Where a request came from."""

    WEB = "web", _("web form")
    EMAIL = "email", _("e-mail")
    PHONE = "phone", _("phone")
    MANUAL = "manual", _("entered by hand")


class Status(models.TextChoices):
    """new (waiting in the team queue) → assigned → in work → converted to a deal or closed."""

    NEW = "new", _("waiting")
    ASSIGNED = "assigned", _("assigned")
    IN_WORK = "in_work", _("in work")
    CONVERTED = "converted", _("converted to a deal")
    CLOSED = "closed", _("closed")


# A request in one of these statuses counts in its assignee's load.
OPEN_STATUSES = (Status.ASSIGNED, Status.IN_WORK)
# ... and in these it is still waiting for an outcome.
UNRESOLVED_STATUSES = (Status.NEW, Status.ASSIGNED, Status.IN_WORK)


# Escalated to the head of sales and still without a first response or a resolution.
BREACHED = models.Q(escalated_at__isnull=False, first_response_at__isnull=True) | models.Q(
    resolution_escalated_at__isnull=False
)


def _any_status(statuses: tuple[str, ...]) -> models.Q:
    """`status IN (…)` written as ORs for a partial index's condition: PostgreSQL proves such
    an index serves a query's `status IN (…)`, which it cannot from the array Django writes."""
    condition = models.Q()
    for status in statuses:
        condition |= models.Q(status=status)
    return condition


class RoutingPolicy(PolicyVersion):
    """One approved version of a team's routing policy (document: inbound.policy_document)."""

    team = models.ForeignKey("people.Team", on_delete=models.PROTECT, related_name="+")

    class Meta(PolicyVersion.Meta):
        verbose_name = _("routing policy version")
        constraints = [
            models.UniqueConstraint(fields=["team", "version"], name="routing_policy_version")
        ]


class RoutingState(models.Model):
    """One row per team, locked while a routing decision is made, so two requests posted at the
    same moment never go to the same last free place (the decisions of a team are serial)."""

    team = models.OneToOneField("people.Team", on_delete=models.CASCADE, related_name="+")

    def __str__(self) -> str:
        return f"routing lock of team {self.team_id}"


class Specialist(models.Model):
    """A person who takes inbound requests in his team: capacity, weight, skills, and the round
    robin's memory of when he last got one."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="specialist"
    )
    team = models.ForeignKey("people.Team", on_delete=models.CASCADE, related_name="+")
    takes_requests = models.BooleanField(_("takes inbound requests"), default=True)
    # None: the policy's default capacity.
    capacity = models.PositiveIntegerField(_("capacity (open requests)"), null=True, blank=True)
    weight = models.PositiveSmallIntegerField(_("weight"), default=1)
    categories = models.ManyToManyField(
        "sales.ProductCategory", blank=True, related_name="+", verbose_name=_("product categories")
    )
    regions = models.JSONField(_("regions"), default=list, blank=True)
    languages = models.JSONField(_("languages"), default=list, blank=True)
    last_assigned_at = models.DateTimeField(null=True, blank=True)
    # The team's decision counter when he last got a request: the round robin's order.
    last_turn = models.PositiveBigIntegerField(default=0)
    assigned_total = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("specialist")
        verbose_name_plural = _("specialists")
        indexes = [models.Index(fields=["team", "takes_requests"], name="specialist_team")]

    def __str__(self) -> str:
        return str(self.user)


class Cursor(models.Model):
    """How far a reader of another table got (the phone channel's last call id read)."""

    name = models.CharField(max_length=64, unique=True)
    position = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name}: {self.position}"


class WebForm(models.Model):
    """A site's form: its public key identifies the team; posts with a wrong or disabled key
    are refused."""

    team = models.ForeignKey("people.Team", on_delete=models.PROTECT, related_name="+")
    name = models.CharField(_("name"), max_length=200)
    key = models.CharField(max_length=40, unique=True)
    is_active = models.BooleanField(_("active"), default=True)
    # Sites allowed to post from a browser (CORS); empty: any.
    allowed_origins = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = _("web form")
        verbose_name_plural = _("web forms")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Mailbox(models.Model):
    """An inbound mailbox polled over IMAP; the password is read from the environment variable
    named here, never stored."""

    team = models.ForeignKey("people.Team", on_delete=models.PROTECT, related_name="+")
    address = models.EmailField(_("address"))
    host = models.CharField(_("IMAP host"), max_length=200)
    port = models.PositiveIntegerField(_("IMAP port"), default=993)
    use_ssl = models.BooleanField(_("SSL"), default=True)
    username = models.CharField(_("user name"), max_length=200)
    password_env = models.CharField(_("environment variable with the password"), max_length=100)
    folder = models.CharField(_("folder"), max_length=100, default="INBOX")
    is_active = models.BooleanField(_("active"), default=True)
    # IMAP UIDs of the folder already read (UIDVALIDITY changes reset it).
    uid_validity = models.BigIntegerField(null=True, blank=True)
    last_uid = models.BigIntegerField(default=0)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        verbose_name = _("mailbox")
        verbose_name_plural = _("mailboxes")

    def __str__(self) -> str:
        return self.address


class InboundRequest(models.Model):
    """A request from a client or a prospect; `(channel, external_id)` is unique, so a re-sent
    form, message or call changes nothing. Routing and deadlines are written by the services."""

    # The team, the client and the assignee are indexed by the composite indexes below.
    team = models.ForeignKey(
        "people.Team", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    external_id = models.CharField(max_length=255, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.NEW
    )
    # What the person wrote, as given (shown escaped).
    name = models.CharField(_("name"), max_length=200, blank=True)
    company = models.CharField(_("company"), max_length=300, blank=True)
    phone = models.CharField(_("phone"), max_length=64, blank=True)
    phone_e164 = models.CharField(max_length=20, blank=True)
    email = models.CharField(_("e-mail"), max_length=254, blank=True)
    inn = models.CharField(_("ИНН"), max_length=12, blank=True)
    subject = models.CharField(_("subject"), max_length=300, blank=True)
    message = models.TextField(_("message"), blank=True)
    category = models.ForeignKey(
        "sales.ProductCategory",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("product category"),
    )
    region = models.CharField(_("region"), max_length=120, blank=True)
    language = models.CharField(_("language"), max_length=8, blank=True)
    web_form = models.ForeignKey(
        WebForm, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    call = models.ForeignKey(
        "activities.Call", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Matched by the foundation's dedup rules; empty: a new client.
    client = models.ForeignKey(
        "clients.Client",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    contact = models.ForeignKey(
        "clients.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    match_reasons = models.JSONField(default=list, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        verbose_name=_("assignee"),
    )
    assigned_at = models.DateTimeField(null=True, blank=True)
    # The assignment's reason as data (see inbound.explain); the events keep every earlier one.
    assigned_why = models.JSONField(default=dict, blank=True)
    # Set while the client's owner holds it under the owner-first rule.
    owner_due_at = models.DateTimeField(null=True, blank=True)
    # People it already went to and who let it pass (not offered to them again).
    passed_by = models.JSONField(default=list, blank=True)
    first_response_due_at = models.DateTimeField(null=True, blank=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    resolution_due_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # When the head of sales was told of a missed first response / resolution deadline.
    escalated_at = models.DateTimeField(null=True, blank=True)
    resolution_escalated_at = models.DateTimeField(null=True, blank=True)
    close_reason = models.CharField(_("reason"), max_length=500, blank=True)
    deal = models.ForeignKey(
        "sales.Deal", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    created_at = models.DateTimeField(db_index=True)
    updated_at = models.DateTimeField()

    class Meta:
        verbose_name = _("inbound request")
        verbose_name_plural = _("inbound requests")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "external_id"],
                condition=~models.Q(external_id=""),
                name="inbound_request_external_id",
            )
        ]
        indexes = [
            models.Index(fields=["team", "status", "created_at"], name="inbound_team_status"),
            models.Index(fields=["assignee", "status"], name="inbound_assignee_status"),
            models.Index(fields=["client", "status"], name="inbound_client_status"),
            # A repeat from the same number or address joins the open request (open_duplicate).
            models.Index(fields=["phone_e164"], name="inbound_phone"),
            models.Index(fields=["email"], name="inbound_email"),
            # The head of sales' board counts every unresolved request of the team per person
            # from this index alone (an index-only scan on PostgreSQL), not from the wide rows.
            models.Index(
                fields=["team", "assignee"],
                include=[
                    "status",
                    "created_at",
                    "first_response_at",
                    "first_response_due_at",
                    "resolution_due_at",
                    "escalated_at",
                    "resolution_escalated_at",
                ],
                condition=_any_status(UNRESOLVED_STATUSES),
                name="inbound_unresolved_cover",
            ),
            # The board's list of breaches, nearest deadline first: a handful of rows.
            models.Index(
                fields=["team", "first_response_due_at"],
                condition=_any_status(UNRESOLVED_STATUSES) & BREACHED,
                name="inbound_breaches",
            ),
        ]

    def __str__(self) -> str:
        return f"№{self.pk}"

    @property
    def number(self) -> str:
        return f"{self.pk:06d}"


class EventKind(models.TextChoices):
    """What happened to a request (the request's append-only timeline)."""

    CREATED = "created", _("received")
    JOINED = "joined", _("a repeat joined")
    QUEUED = "queued", _("waiting in the queue")
    ASSIGNED = "assigned", _("assigned")
    PASSED = "passed", _("passed on")
    REASSIGNED = "reassigned", _("reassigned")
    TAKEN = "taken", _("taken in work")
    RESPONDED = "responded", _("first response")
    ESCALATED = "escalated", _("escalated")
    CONVERTED = "converted", _("converted to a deal")
    CLOSED = "closed", _("closed")
    REPLIED = "replied", _("reply sent")
    ACKNOWLEDGED = "acknowledged", _("acknowledgement sent")


class RequestEvent(models.Model):
    """One step in a request's life, with who and why as data; never edited."""

    request = models.ForeignKey(InboundRequest, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=EventKind.choices)
    at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    to_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["to_user", "kind", "at"], name="inbound_event_to_user")]

    def __str__(self) -> str:
        return f"{self.request_id} {self.kind}"


class RequestMessage(models.Model):
    """A message of the request's thread: the first one, a repeat that joined it, an e-mail
    reply either way; the Message-ID joins a reply to its request."""

    request = models.ForeignKey(InboundRequest, on_delete=models.CASCADE, related_name="messages")
    incoming = models.BooleanField(default=True)
    channel = models.CharField(max_length=8, choices=Channel.choices)
    message_id = models.CharField(max_length=255, blank=True, db_index=True)
    sender = models.CharField(max_length=300, blank=True)
    subject = models.CharField(max_length=300, blank=True)
    body = models.TextField(blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return self.subject or f"{self.request_id}"


class RequestAttachment(models.Model):
    """A file that came with an e-mail, kept with the message."""

    message = models.ForeignKey(
        RequestMessage, on_delete=models.CASCADE, related_name="attachments"
    )
    file = models.FileField(upload_to="inbound/%Y/%m/")
    name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100, blank=True)
    size = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return self.name
