from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SalesConfig(AppConfig):
    name = "otdel.sales"
    label = "sales"
    verbose_name = _("deals and the conveyor")
