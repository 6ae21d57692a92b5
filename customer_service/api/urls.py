from customer_service.shops.api.views import ShopViewSet
from kefu.api.routers import OptionalSlashRouter

router = OptionalSlashRouter()
router.register("shops", ShopViewSet, basename="shop")
urlpatterns = router.urls
