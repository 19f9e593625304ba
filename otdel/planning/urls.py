"""Planning pages: my day, tasks, the daily review, campaigns, scripts."""

from django.urls import path

from otdel.planning import views

app_name = "planning"

urlpatterns = [
    path("my-day/", views.my_day, name="my_day"),
    path("my-day/commit/", views.commit_plan, name="commit_plan"),
    path("tasks/new/", views.task_create, name="task_create"),
    path("tasks/<int:task_id>/", views.task_detail, name="task_detail"),
    path("tasks/<int:task_id>/done/", views.task_done, name="task_done"),
    path("tasks/<int:task_id>/cancel/", views.task_cancel, name="task_cancel"),
    path("head/daily-review/", views.daily_review, name="daily_review"),
    path("head/campaigns/", views.campaigns, name="campaigns"),
    path("head/campaigns/new/", views.campaign_create, name="campaign_create"),
    path("head/campaigns/<int:campaign_id>/", views.campaign_detail, name="campaign_detail"),
    path("head/cadences/", views.cadences, name="cadences"),
    path("head/scripts/", views.scripts, name="scripts"),
    path("head/scripts/new/", views.script_edit, name="script_create"),
    path("head/scripts/<int:script_id>/", views.script_edit, name="script_edit"),
]
