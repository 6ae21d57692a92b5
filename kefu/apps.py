from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class KefuConfig(AppConfig):
    name = "kefu"
    verbose_name = _("kefu")

    def ready(self):
        from django.contrib import admin

        admin.site.site_header = _("kefu customer service")
        admin.site.site_title = _("kefu")
        admin.site.index_title = _("Back office")
