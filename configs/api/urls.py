from rest_framework.routers import DefaultRouter

from .views import ConfigCategoryViewSet, ConfigTemplateViewSet, SystemConfigViewSet, UserConfigViewSet

router = DefaultRouter(trailing_slash="/?")
router.register("configs", UserConfigViewSet, basename="config")
router.register("templates", ConfigTemplateViewSet, basename="config-template")
router.register("categories", ConfigCategoryViewSet, basename="config-category")
router.register("system-configs", SystemConfigViewSet, basename="system-config")
urlpatterns = router.urls
