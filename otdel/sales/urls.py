"""Sales pages: the board, deals, handoffs, money, proposals, tenders, and the catalogue of the
head of sales."""

from django.urls import path

from otdel.sales import (
    catalogue_views,
    floor_views,
    import_1c_views,
    money_views,
    proposal_views,
    tender_views,
    views,
)

app_name = "sales"

urlpatterns = [
    path("deals/", views.board, name="board"),
    path("deals/setup/", views.setup_pipeline, name="setup_pipeline"),
    path("deals/new/", views.deal_create, name="deal_create"),
    path("deals/<int:deal_id>/", views.deal_detail, name="deal_detail"),
    path("deals/<int:deal_id>/move/", views.deal_move, name="deal_move"),
    path("deals/<int:deal_id>/source/", views.change_source, name="change_source"),
    path("deals/<int:deal_id>/invoices/", money_views.invoice_issue, name="invoice_issue"),
    path("deals/<int:deal_id>/invoices/line/", money_views.invoice_line, name="invoice_line"),
    path("deals/<int:deal_id>/payments/", money_views.payment_record, name="payment_record"),
    path("deals/<int:deal_id>/shipments/", money_views.shipment_record, name="shipment_record"),
    path("deals/<int:deal_id>/shipments/line/", money_views.shipment_line, name="shipment_line"),
    path(
        "money/invoices/<int:invoice_id>/credit-note/", money_views.credit_note, name="credit_note"
    ),
    path(
        "money/shipments/<int:shipment_id>/return/", money_views.goods_return, name="goods_return"
    ),
    path("money/<str:what>/", money_views.money_list, name="money_list"),
    path("money-import/", import_1c_views.start, name="import_1c"),
    path("money-import/<int:job_id>/", import_1c_views.result, name="import_1c_result"),
    path("money-import/<int:job_id>/columns/", import_1c_views.mapping, name="import_1c_mapping"),
    path("money-import/<int:job_id>/preview/", import_1c_views.preview, name="import_1c_preview"),
    path("money-import/unresolved/", import_1c_views.unresolved, name="unresolved"),
    path(
        "money-import/unresolved/<int:row_id>/", import_1c_views.resolve, name="unresolved_resolve"
    ),
    # Proposals (КП / ТКП) and tenders.
    path("deals/<int:deal_id>/proposals/", proposal_views.deal_proposals, name="deal_proposals"),
    path(
        "deals/<int:deal_id>/proposals/new/",
        proposal_views.proposal_create,
        name="proposal_create",
    ),
    path("deals/<int:deal_id>/proposals/line/", proposal_views.proposal_line, name="proposal_line"),
    path("proposals/<int:proposal_id>/", proposal_views.proposal_detail, name="proposal_detail"),
    path("proposals/<int:proposal_id>/edit/", proposal_views.proposal_edit, name="proposal_edit"),
    path(
        "proposals/<int:proposal_id>/revise/",
        proposal_views.proposal_revise,
        name="proposal_revise",
    ),
    path(
        "proposals/<int:proposal_id>/invoice/",
        proposal_views.proposal_invoice,
        name="proposal_invoice",
    ),
    path(
        "proposals/<int:proposal_id>/<str:action>/",
        proposal_views.proposal_action,
        name="proposal_action",
    ),
    path("tenders/", tender_views.tender_list, name="tender_list"),
    path("tenders/new/", tender_views.tender_create, name="tender_create"),
    path("tenders/<int:tender_id>/", tender_views.tender_detail, name="tender_detail"),
    path("tenders/<int:tender_id>/edit/", tender_views.tender_edit, name="tender_edit"),
    path("tenders/<int:tender_id>/lots/", tender_views.tender_lot_add, name="tender_lot_add"),
    path(
        "tenders/<int:tender_id>/participants/",
        tender_views.tender_participant_add,
        name="tender_participant_add",
    ),
    path(
        "tenders/<int:tender_id>/participants/<int:participant_id>/remove/",
        tender_views.tender_participant_remove,
        name="tender_participant_remove",
    ),
    path("tenders/<int:tender_id>/lead/", tender_views.tender_lead, name="tender_lead"),
    path("tenders/<int:tender_id>/outcome/", tender_views.tender_outcome, name="tender_outcome"),
    path("tenders/<int:tender_id>/floors/", tender_views.tender_floor_set, name="tender_floor_set"),
    path(
        "tenders/<int:tender_id>/floors/<int:floor_id>/remove/",
        tender_views.tender_floor_remove,
        name="tender_floor_remove",
    ),
    path("handoffs/", views.handoffs, name="handoffs"),
    path("handoffs/<int:handoff_id>/accept/", views.handoff_accept, name="handoff_accept"),
    path("handoffs/<int:handoff_id>/return/", views.handoff_return, name="handoff_return"),
    path("handoffs/<int:handoff_id>/redirect/", views.handoff_redirect, name="handoff_redirect"),
    path("clients/<int:client_id>/deals/", views.client_deals, name="client_deals"),
    path("head/price-approvals/", floor_views.price_approvals, name="price_approvals"),
    path("head/price-approvals/<int:approval_id>/", floor_views.decide, name="price_decide"),
    path("head/price-floors/", floor_views.set_floor, name="price_floor_set"),
    path(
        "head/price-floors/<int:floor_id>/remove/",
        floor_views.remove_floor,
        name="price_floor_remove",
    ),
    path("head/catalogue/", catalogue_views.catalogue, name="catalogue"),
    path("head/catalogue/categories/", catalogue_views.category_save, name="category_create"),
    path(
        "head/catalogue/categories/<int:category_id>/",
        catalogue_views.category_save,
        name="category_save",
    ),
    path("head/catalogue/products/new/", catalogue_views.product_edit, name="product_create"),
    path(
        "head/catalogue/products/<int:product_id>/",
        catalogue_views.product_edit,
        name="product_edit",
    ),
    path(
        "head/catalogue/products/<int:product_id>/cost/",
        catalogue_views.product_cost,
        name="product_cost",
    ),
]

# The pipelines of the head of sales: the list and the editor (appended).
from otdel.sales import pipeline_views  # noqa: E402

urlpatterns += [
    path("head/pipelines/", pipeline_views.pipeline_list, name="pipeline_list"),
    path("head/pipelines/<int:pipeline_id>/", pipeline_views.pipeline_edit, name="pipeline_edit"),
    path(
        "head/pipelines/<int:pipeline_id>/default/",
        pipeline_views.pipeline_default,
        name="pipeline_default",
    ),
    path(
        "head/pipelines/<int:pipeline_id>/archive/",
        pipeline_views.pipeline_archive,
        name="pipeline_archive",
    ),
]
