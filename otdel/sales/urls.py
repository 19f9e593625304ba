"""Sales pages: the board, deals, handoffs, and the catalogue of the head of sales."""

from django.urls import path

from otdel.sales import catalogue_views, views

app_name = "sales"

urlpatterns = [
    path("deals/", views.board, name="board"),
    path("deals/setup/", views.setup_pipeline, name="setup_pipeline"),
    path("deals/new/", views.deal_create, name="deal_create"),
    path("deals/<int:deal_id>/", views.deal_detail, name="deal_detail"),
    path("deals/<int:deal_id>/move/", views.deal_move, name="deal_move"),
    path("deals/<int:deal_id>/source/", views.change_source, name="change_source"),
    path("handoffs/", views.handoffs, name="handoffs"),
    path("handoffs/<int:handoff_id>/accept/", views.handoff_accept, name="handoff_accept"),
    path("handoffs/<int:handoff_id>/return/", views.handoff_return, name="handoff_return"),
    path("handoffs/<int:handoff_id>/redirect/", views.handoff_redirect, name="handoff_redirect"),
    path("clients/<int:client_id>/deals/", views.client_deals, name="client_deals"),
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
