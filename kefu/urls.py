from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.api import urls as accounts_urls
from billing.api import urls as billing_urls
from configs.api import urls as configs_urls
from customer_service.api import urls as customer_service_urls
from knowledge.api import urls as knowledge_urls

from .views import health

# The URL root is the project's composition root: it names every app's API, so it sits above every
# layer (a named exception in the import-linter contract, pyproject.toml).
API_URL_MODULES = [accounts_urls, customer_service_urls, knowledge_urls, billing_urls, configs_urls]


def api_root_view():
    """One browsable index of every app's resources (each app keeps its own router)."""
    from rest_framework.routers import APIRootView

    api_root_dict = {}
    for module in API_URL_MODULES:
        router = module.router
        list_route_name = router.routes[0].name
        for prefix, _viewset, basename in router.registry:
            api_root_dict[prefix] = list_route_name.format(basename=basename)
    return APIRootView.as_view(api_root_dict=api_root_dict)


api_patterns = [
    path("", api_root_view(), name="api-root"),
    *(path("", include(module)) for module in API_URL_MODULES),
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

