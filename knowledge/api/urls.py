from kefu.api.routers import OptionalSlashRouter

from .views import KnowledgeItemViewSet

router = OptionalSlashRouter()
router.register("knowledge", KnowledgeItemViewSet, basename="knowledge")
urlpatterns = router.urls
