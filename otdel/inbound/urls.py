"""Inbound pages: my requests, the queue, the request card, the head of sales' board and
settings, manual entry, the availability switch, and the public form a site embeds (/f/<key>/)."""

from django.urls import path

from otdel.inbound import views

app_name = "inbound"

urlpatterns = [
    path("requests/", views.my_requests, name="my_requests"),
    path("requests/live/", views.my_requests_list, name="my_requests_list"),
    path("requests/new/", views.enter, name="enter"),
    path("requests/queue/", views.queue, name="queue"),
    path("requests/queue/live/", views.queue_list, name="queue_list"),
    path("requests/<int:request_id>/", views.detail, name="detail"),
    path("requests/<int:request_id>/take/", views.take, name="take"),
    path(
        "requests/<int:request_id>/take-from-queue/",
        views.take_from_queue,
        name="take_from_queue",
    ),
    path("requests/<int:request_id>/close/", views.close, name="close"),
    path("requests/<int:request_id>/convert/", views.convert, name="convert"),
    path("requests/<int:request_id>/reassign/", views.reassign, name="reassign"),
    path("requests/<int:request_id>/reply/", views.reply, name="reply"),
    path(
        "requests/<int:request_id>/attachments/<int:attachment_id>/",
        views.attachment,
        name="attachment",
    ),
    path("me/availability/", views.set_availability, name="availability"),
    path("head/inbound/", views.board, name="board"),
    path("head/inbound/live/", views.board_live, name="board_live"),
    path("head/inbound/policy/", views.routing_policy, name="policy"),
    path("head/inbound/specialists/", views.specialists, name="specialists"),
    path("head/inbound/forms/", views.web_forms, name="web_forms"),
    path("head/inbound/forms/<int:form_id>/active/", views.web_form_active, name="web_form_active"),
    path("f/<str:key>/", views.public_form, name="public_form"),
]
