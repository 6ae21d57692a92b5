from kefu.api.routers import OptionalSlashRouter

from .views import (
    AIModelViewSet,
    BudgetViewSet,
    ModelConfigViewSet,
    ModelPricingViewSet,
    ProviderViewSet,
    UsageRecordViewSet,
)

router = OptionalSlashRouter()
router.register("providers", ProviderViewSet, basename="provider")
router.register("models", AIModelViewSet, basename="aimodel")
router.register("pricing", ModelPricingViewSet, basename="modelpricing")
router.register("usage", UsageRecordViewSet, basename="usagerecord")
router.register("model-configs", ModelConfigViewSet, basename="modelconfig")
router.register("budgets", BudgetViewSet, basename="budget")
urlpatterns = router.urls
