"""Client base pages: search, create (with duplicates), the client card, edit, merge.

Views are thin: parse the form → build the schema → call the service or selector → render.
Who may do what is asked of ownership.policies; the services refuse anyway.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import F, Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST
from pydantic import ValidationError

from otdel.activities.services import log_activity
from otdel.clients import dedup, selectors, services
from otdel.clients.forms import (
    CONTACT_FIELD_FOR_LOC,
    CREATE_FIELD_FOR_LOC,
    ActivityForm,
    ClientCreateForm,
    ClientEditForm,
    ContactForm,
    LegalEntityForm,
    MergeForm,
    add_pydantic_errors,
)
from otdel.clients.models import Client, LegalEntity
from otdel.clients.schemas import ClientIn, ClientUpdate, ContactIn, LegalEntityIn
from otdel.core.errors import DomainError
from otdel.ownership import policies
from otdel.ownership import selectors as ownership_selectors
from otdel.people.models import User
from otdel.people.selectors import active_people

PAGE_SIZE = 50

SORTS: dict[str, list[Any]] = {
    "name": ["name", "pk"],
    "-name": ["-name", "-pk"],
    "owner": [F("owner__last_name").asc(nulls_first=True), "name"],
    "-owner": [F("owner__last_name").desc(nulls_last=True), "name"],
    "region": ["region", "name"],
    "-region": ["-region", "name"],
    "created": ["created_at", "pk"],
    "-created": ["-created_at", "-pk"],
}


def _viewer(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _client_or_404(viewer: User, client_id: int) -> Client:
    try:
        return selectors.client_for(viewer, client_id)
    except DomainError as err:
        raise Http404(err.message) from None


def _actable_or_404(viewer: User, client_id: int) -> Client:
    """The client, if the viewer may change it; otherwise it looks missing (nothing leaks)."""
    client = _client_or_404(viewer, client_id)
    if client.pk != client_id or not policies.can_act_on(viewer, client):
        raise Http404(_("Client not found."))
    return client


@login_required
def search(request: HttpRequest) -> HttpResponse:
    """Every client of the department, found by name, ИНН, phone or e-mail, with its owner."""
    viewer = _viewer(request)
    q = request.GET.get("q", "").strip()
    scope = request.GET.get("scope", "")
    sort = request.GET.get("sort", "name")
    in_pool = {"pool": True, "owned": False}.get(scope)
    owner_id = viewer.pk if scope == "mine" else None
    qs = selectors.search_clients(viewer, q=q, owner_id=owner_id, in_pool=in_pool)
    qs = qs.order_by(*SORTS.get(sort, SORTS["name"]))
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    clients = list(page.object_list)
    # One query for the ИНН column of this page only.
    inns: dict[int, list[str]] = {}
    for client_id, inn in LegalEntity.objects.filter(client__in=clients).values_list(
        "client_id", "inn"
    ):
        inns.setdefault(client_id, []).append(inn)
    rows = [{"client": c, "inns": inns.get(c.pk, [])} for c in clients]
    context = {"q": q, "scope": scope, "sort": sort, "page_obj": page, "rows": rows}
    return render(request, "clients/search.html", context)


def _create_form(request: HttpRequest, viewer: User) -> ClientCreateForm:
    people: list[User] = []
    if viewer.is_head_of_sales:
        people = [u for u in active_people(viewer).order_by("last_name") if u.owns_clients]
    initial = {"name": request.GET.get("name", "")}
    return ClientCreateForm(request.POST or None, user=viewer, people=people, initial=initial)


@login_required
@require_http_methods(["GET", "POST"])
def create(request: HttpRequest) -> HttpResponse:
    """A new client: validated by the shared schema; possible duplicates are shown first and
    nothing is written until the person confirms."""
    viewer = _viewer(request)
    form = _create_form(request, viewer)
    duplicates: list[dedup.DuplicateMatch] = []
    if request.method == "POST" and form.is_valid():
        try:
            data = ClientIn.model_validate(form.client_input())
        except ValidationError as exc:
            add_pydantic_errors(form, exc, CREATE_FIELD_FOR_LOC)
        else:
            destination = form.cleaned_data["destination"]
            owner: User | None = None
            if destination == "me":
                owner = viewer
            elif destination != "pool":
                owner = active_people(viewer).filter(pk=int(destination)).first()
            try:
                client = services.create_client(
                    data,
                    actor=viewer,
                    owner=owner,
                    allow_duplicates=form.cleaned_data["allow_duplicates"],
                )
            except services.PossibleDuplicates as err:
                duplicates = err.matches
            except DomainError as err:
                form.add_error(None, err.message)
            else:
                messages.success(
                    request, _("Client «%(name)s» is created.") % {"name": client.name}
                )
                return redirect("clients:detail", client.pk)
    return render(request, "clients/create.html", {"form": form, "duplicates": duplicates})


def _card_context(request: HttpRequest, client: Client) -> dict[str, Any]:
    viewer = _viewer(request)
    can_act = policies.can_act_on(viewer, client)
    return {
        "client": client,
        "ownership": ownership_selectors.ownership_status(client),
        "open_transfers": ownership_selectors.open_transfers_for_client(viewer, client),
        "can_act": can_act,
        "can_merge": policies.can_merge(viewer, client),
        "contacts": selectors.contacts_for(viewer, client),
        "legal_entities": list(client.legal_entities.all()),
        "brands": list(client.brands.all()),
        "sites": list(client.sites.all()),
    }


def _activity_context(
    request: HttpRequest, client: Client, form: ActivityForm | None = None
) -> dict[str, Any]:
    return {
        "client": client,
        "timeline": selectors.timeline(_viewer(request), client),
        "activity_form": form or ActivityForm(),
    }


@login_required
def detail(request: HttpRequest, client_id: int) -> HttpResponse:
    """The client card: details, contacts, entities, ownership and the whole history — for
    everyone; actions only for those who may take them."""
    viewer = _viewer(request)
    client = _client_or_404(viewer, client_id)
    if client.pk != client_id:
        messages.info(request, _("That client was merged into this one."))
        return redirect("clients:detail", client.pk)
    context = _card_context(request, client) | _activity_context(request, client)
    context["duplicate_count"] = len(
        dedup.find_duplicates(dedup.candidate_for(client), exclude_id=client.pk)
    )
    return render(request, "clients/detail.html", context)


@login_required
@require_POST
def add_activity(request: HttpRequest, client_id: int) -> HttpResponse:
    """Log a call, meeting, e-mail or note; with htmx only the history block is redrawn."""
    viewer = _viewer(request)
    client = _client_or_404(viewer, client_id)
    form = ActivityForm(request.POST)
    saved = False
    if form.is_valid():
        d = form.cleaned_data
        try:
            log_activity(
                client.pk,
                actor=viewer,
                kind=d["kind"],
                occurred_at=d.get("occurred_at"),
                subject=d.get("subject", ""),
                body=d.get("body", ""),
                direction=d.get("direction", ""),
                talk_seconds=d.get("talk_time"),
            )
        except DomainError as err:
            form.add_error(None, err.message)
        else:
            saved = True
    if not request.headers.get("HX-Request"):
        if saved:
            messages.success(request, _("The activity is logged."))
        else:
            for errors in form.errors.values():
                for e in errors:
                    messages.error(request, str(e))
        return redirect("clients:detail", client.pk)
    # The owner's activity may restart the countdown: redraw the ownership panel too.
    client.refresh_from_db()
    context = _activity_context(request, client, None if saved else form)
    context |= _card_context(request, client)
    context["saved"] = saved
    return render(request, "clients/_activity_block.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def edit(request: HttpRequest, client_id: int) -> HttpResponse:
    """The owner or the head of sales edits the client's details; others get 'not found'."""
    viewer = _viewer(request)
    client = _actable_or_404(viewer, client_id)
    initial = {f: getattr(client, f) for f in ("name", "website", "region", "industry", "notes")}
    form = ClientEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            data = ClientUpdate.model_validate(form.cleaned_data)
            services.update_client(client.pk, data, actor=viewer)
        except ValidationError as exc:
            add_pydantic_errors(form, exc)
        except DomainError as err:
            if err.status == 404:
                raise Http404(err.message) from None
            form.add_error(None, err.message)
        else:
            messages.success(request, _("The client's details are saved."))
            return redirect("clients:detail", client.pk)
    return render(request, "clients/edit.html", {"client": client, "form": form})


@login_required
@require_http_methods(["GET", "POST"])
def add_contact(request: HttpRequest, client_id: int) -> HttpResponse:
    """The owner or the head of sales adds a contact person."""
    viewer = _viewer(request)
    client = _actable_or_404(viewer, client_id)
    form = ContactForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            data = ContactIn.model_validate(form.contact_input())
            services.add_contact(client.pk, data, actor=viewer)
        except ValidationError as exc:
            add_pydantic_errors(form, exc, CONTACT_FIELD_FOR_LOC)
        except DomainError as err:
            if err.status == 404:
                raise Http404(err.message) from None
            form.add_error(None, err.message)
        else:
            messages.success(request, _("The contact is added."))
            return redirect("clients:detail", client.pk)
    return render(request, "clients/contact_form.html", {"client": client, "form": form})


@login_required
@require_POST
def remove_contact(request: HttpRequest, client_id: int, contact_id: int) -> HttpResponse:
    """The owner or the head of sales removes a contact (audited with what it held)."""
    viewer = _viewer(request)
    client = _actable_or_404(viewer, client_id)
    if not client.contacts.filter(pk=contact_id).exists():
        raise Http404(_("Contact not found."))
    try:
        services.remove_contact(contact_id, actor=viewer)
    except DomainError as err:
        if err.status == 404:
            raise Http404(err.message) from None
        messages.error(request, err.message)
    else:
        messages.success(request, _("The contact is removed."))
    return redirect("clients:detail", client.pk)


@login_required
@require_http_methods(["GET", "POST"])
def add_legal_entity(request: HttpRequest, client_id: int) -> HttpResponse:
    """Add a legal entity; a ИНН already known under another client needs a confirmation."""
    viewer = _viewer(request)
    client = _actable_or_404(viewer, client_id)
    form = LegalEntityForm(request.POST or None)
    duplicates: list[dedup.DuplicateMatch] = []
    if request.method == "POST" and form.is_valid():
        d = dict(form.cleaned_data)
        allow = d.pop("allow_duplicates", False)
        try:
            data = LegalEntityIn.model_validate(d)
            services.add_legal_entity(client.pk, data, actor=viewer, allow_duplicates=allow)
        except ValidationError as exc:
            add_pydantic_errors(form, exc)
        except services.PossibleDuplicates as err:
            duplicates = err.matches
        except DomainError as err:
            if err.status == 404:
                raise Http404(err.message) from None
            form.add_error(None, err.message)
        else:
            messages.success(request, _("The legal entity is added."))
            return redirect("clients:detail", client.pk)
    return render(
        request,
        "clients/legal_entity_form.html",
        {"client": client, "form": form, "duplicates": duplicates},
    )


@login_required
def duplicates(request: HttpRequest, client_id: int) -> HttpResponse:
    """Clients that look like this one (any owner, or the pool), and why."""
    viewer = _viewer(request)
    client = _client_or_404(viewer, client_id)
    if client.pk != client_id:
        return redirect("clients:duplicates", client.pk)
    matches = dedup.find_duplicates(dedup.candidate_for(client), exclude_id=client.pk)
    return render(
        request,
        "clients/duplicates.html",
        {"client": client, "matches": matches, "can_merge": policies.can_merge(viewer, client)},
    )


@login_required
def duplicate_queue(request: HttpRequest) -> HttpResponse:
    """The base's possible duplicates, for those who merge them (head of sales, database
    operator); others get 404."""
    viewer = _viewer(request)
    if not policies.may_merge_anything(viewer):
        raise Http404
    groups = dedup.duplicate_groups(limit=100)
    return render(request, "clients/duplicate_queue.html", {"groups": groups})


def _merge_side(client: Client) -> dict[str, Any]:
    return {
        "client": client,
        "legal_entities": list(client.legal_entities.all()),
        "contacts": list(client.contacts.prefetch_related(Prefetch("phones"))),
        "activities": client.activities.count(),
        "brands": list(client.brands.all()),
        "sites": list(client.sites.all()),
    }


@login_required
@require_http_methods(["GET", "POST"])
def merge(request: HttpRequest, client_id: int, other_id: int) -> HttpResponse:
    """Side by side, then merge `other` into this client; only for those who may merge."""
    viewer = _viewer(request)
    survivor = _client_or_404(viewer, client_id)
    duplicate = _client_or_404(viewer, other_id)
    if (
        survivor.pk != client_id
        or duplicate.pk != other_id
        or survivor.pk == duplicate.pk
        or not policies.can_merge(viewer, survivor)
        or not policies.can_merge(viewer, duplicate)
    ):
        raise Http404(_("Client not found."))
    owners = [u for u in (survivor.owner, duplicate.owner) if u is not None]
    owners = list({u.pk: u for u in owners}.values())
    form = MergeForm(request.POST or None, owners=owners)
    if request.method == "POST" and form.is_valid():
        keep = form.cleaned_data.get("keep_owner")
        try:
            services.merge_clients(
                survivor.pk, duplicate.pk, actor=viewer, keep_owner_id=int(keep) if keep else None
            )
        except DomainError as err:
            if err.status == 404:
                raise Http404(err.message) from None
            form.add_error(None, err.message)
        else:
            messages.success(
                request,
                _("«%(dup)s» is merged into «%(name)s».")
                % {"dup": duplicate.name, "name": survivor.name},
            )
            return redirect("clients:detail", survivor.pk)
    return render(
        request,
        "clients/merge.html",
        {
            "left": _merge_side(survivor),
            "right": _merge_side(duplicate),
            "survivor": survivor,
            "duplicate": duplicate,
            "form": form,
            "swap_url": reverse("clients:merge", args=[duplicate.pk, survivor.pk]),
        },
    )
