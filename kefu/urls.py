from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from .views import health

API_URL_MODULES = [
    "accounts.api.urls",
    "customer_service.api.urls",
    "knowledge.api.urls",
    "billing.api.urls",
    "configs.api.urls",
]


def api_root_view():
    """One browsable index of every app's resources (each app keeps its own router)."""
    from importlib import import_module

    from rest_framework.routers import APIRootView

    api_root_dict = {}
    for module in API_URL_MODULES:
        router = import_module(module).router
        list_route_name = router.routes[0].name
        for prefix, _viewset, basename in router.registry:
            api_root_dict[prefix] = list_route_name.format(basename=basename)
    return APIRootView.as_view(api_root_dict=api_root_dict)


api_patterns = [
    path("", api_root_view(), name="api-root"),
    path("", include("accounts.api.urls")),
    path("", include("customer_service.api.urls")),
    path("", include("knowledge.api.urls")),
    path("", include("billing.api.urls")),
    path("", include("configs.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]

urlpatterns = [
    path("health", health, name="health"),
    path("api/", include(api_patterns)),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
]

handler400 = "kefu.api.exceptions.json_400"
handler404 = "kefu.api.exceptions.json_404"
handler500 = "kefu.api.exceptions.json_500"

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

