"""Read-mostly admin for planning data (changes go through the services and pages)."""

from django.contrib import admin

from otdel.planning.models import CadencePolicy, CallScript, Campaign, DayPlan, Task


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ("title", "assignee", "client", "due_date", "status", "rule")
    list_filter = ("status", "kind")
    search_fields = ("title", "rule", "client__name")
    raw_id_fields = ("assignee", "client", "done_by_call", "campaign", "script", "created_by")


@admin.register(CallScript)
class CallScriptAdmin(admin.ModelAdmin):
    list_display = ("title", "team", "active")


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ("title", "team", "assignee", "deadline", "created_at")
    raw_id_fields = ("assignee", "created_by", "script")


@admin.register(DayPlan)
class DayPlanAdmin(admin.ModelAdmin):
    list_display = ("person", "date", "committed_at", "calls_target")


@admin.register(CadencePolicy)
class CadencePolicyAdmin(admin.ModelAdmin):
    list_display = ("team", "version", "effective_from")
