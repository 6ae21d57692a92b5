from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from .views import health

api_patterns = [
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

