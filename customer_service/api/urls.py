from kefu.api.routers import OptionalSlashRouter

from .views import ShopViewSet

router = OptionalSlashRouter()
router.register("shops", ShopViewSet, basename="shop")
urlpatterns = router.urls
