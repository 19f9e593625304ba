"""The catalogue pages of the head of sales: products with their current cost, categories, a
product's card with its cost history. They do not exist (404) for anyone else."""

from __future__ import annotations

from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from pydantic import ValidationError

from otdel.core import clock
from otdel.core.errors import DomainError
from otdel.core.paging import page_without_count, query_without
from otdel.people.models import User
from otdel.sales import policies, selectors, services
from otdel.sales.forms import NO_VAT, CostForm, ProductForm
from otdel.sales.models import Product
from otdel.sales.schemas import CategoryIn, CategoryPatch, ProductIn, ProductPatch


def _head(request: HttpRequest) -> User:
    user: User = request.user  # type: ignore[assignment]
    if not policies.can_edit_catalogue(user):
        raise Http404
    return user


def _markup(price: Decimal, cost: Decimal | None) -> Decimal | None:
    """The list price's markup over the cost, in percent (None without a cost)."""
    if cost is None or cost <= 0:
        return None
    return ((price - cost) / cost * 100).quantize(Decimal("0.1"))


@login_required
@require_GET
def catalogue(request: HttpRequest) -> HttpResponse:
    """Products by category with list price, VAT, current cost and markup; the categories."""
    user = _head(request)
    category_id = request.GET.get("category", "")
    status = request.GET.get("status", "active")
    qs = selectors.products(
        user,
        category_id=int(category_id) if category_id.isdigit() else None,
        active={"active": True, "retired": False}.get(status),
        query=request.GET.get("q", "").strip(),
    )
    rows, page, has_next = page_without_count(request, qs)
    for p in rows:
        p.markup = _markup(p.list_price, p.current_cost)
    return render(
        request,
        "sales/catalogue.html",
        {
            "rows": rows,
            "page": page,
            "has_next": has_next,
            "query_rest": query_without(request, "page"),
            "categories": list(selectors.categories()),
            "category_id": category_id,
            "status": status,
            "q": request.GET.get("q", ""),
        },
    )


@login_required
@require_POST
def category_save(request: HttpRequest, category_id: int | None = None) -> HttpResponse:
    """Add a category, or rename / reorder / retire one."""
    user = _head(request)
    try:
        if category_id is None:
            services.create_category(
                CategoryIn(
                    name=request.POST.get("name", ""),
                    position=int(request.POST.get("position") or 100),
                ),
                actor=user,
            )
        else:
            services.update_category(
                category_id,
                CategoryPatch(
                    name=request.POST.get("name") or None,
                    position=int(request.POST["position"])
                    if request.POST.get("position", "").isdigit()
                    else None,
                    active=request.POST.get("active") == "on",
                ),
                actor=user,
            )
    except (ValidationError, ValueError):
        messages.error(request, _("Check the category's name and order."))
    except DomainError as err:
        messages.error(request, err.message)
    else:
        messages.success(request, _("The category is saved."))
    return redirect("sales:catalogue")


def _initial(product: Product) -> dict[str, object]:
    return {
        "name": product.name,
        "sku": product.sku,
        "category": product.category_id,
        "unit": product.unit,
        "list_price": product.list_price,
        "currency": product.currency,
        "vat_rate": NO_VAT if product.vat_rate is None else f"{product.vat_rate:g}",
        "active": product.active,
    }


@login_required
@require_http_methods(["GET", "POST"])
def product_edit(request: HttpRequest, product_id: int | None = None) -> HttpResponse:
    """A product's card: its fields, and (once it exists) its cost price and cost history."""
    user = _head(request)
    product = None
    if product_id is not None:
        try:
            product = selectors.product_for(user, product_id)
        except DomainError as err:
            raise Http404 from err
    form = ProductForm(
        request.POST or None,
        initial=_initial(product) if product else None,
        with_cost=product is None,
    )
    if request.method == "POST" and form.is_valid():
        values = {
            "name": form.cleaned_data["name"],
            "sku": form.cleaned_data["sku"],
            "unit": form.cleaned_data["unit"],
            "category_id": form.cleaned_data["category"].pk,
            "list_price": form.cleaned_data["list_price"],
            "currency": form.cleaned_data["currency"],
            "vat_rate": form.vat(),
            "active": form.cleaned_data["active"],
        }
        try:
            if product is None:
                saved = services.create_product(
                    ProductIn(**values, cost=form.cleaned_data.get("cost")), actor=user
                )
            else:
                saved = services.update_product(product.pk, ProductPatch(**values), actor=user)
        except ValidationError as err:
            form.add_validation_errors(err)
        except DomainError as err:
            field = str(err.details.get("field", ""))
            form.add_error(field if field in form.fields else None, err.message)
        else:
            messages.success(request, _("The product is saved."))
            return redirect("sales:product_edit", product_id=saved.pk)
    return render(
        request,
        "sales/product_edit.html",
        {
            "product": product,
            "form": form,
            "cost_form": CostForm() if product else None,
            "current_cost": selectors.cost_at(product.pk) if product else None,
            "costs": selectors.cost_history(user, product.pk) if product else [],
            "now": clock.now(),
        },
    )


@login_required
@require_POST
def product_cost(request: HttpRequest, product_id: int) -> HttpResponse:
    """Record a new cost price (a new row of the history, from now or later)."""
    user = _head(request)
    form = CostForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Check the new cost price."))
        return redirect("sales:product_edit", product_id=product_id)
    try:
        services.change_cost(
            product_id,
            amount=form.cleaned_data["amount"],
            effective_from=form.moment(),
            comment=form.cleaned_data["comment"],
            actor=user,
        )
    except DomainError as err:
        if err.status == 404:
            raise Http404 from err
        messages.error(request, err.message)
    else:
        messages.success(request, _("The new cost price is recorded."))
    return redirect("sales:product_edit", product_id=product_id)
