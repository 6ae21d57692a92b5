from rest_framework.routers import DefaultRouter

from .views import ShopViewSet

router = DefaultRouter(trailing_slash="/?")
router.register("shops", ShopViewSet, basename="shop")
urlpatterns = router.urls
