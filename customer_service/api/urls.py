from customer_service.alerts.api.views import AlertChannelViewSet, AlertDeliveryViewSet, AlertEventViewSet
from customer_service.outbox.api.views import OutgoingReplyViewSet
from customer_service.pipeline.api import ConversationViewSet, MessageViewSet
from customer_service.review import api as review_api
from customer_service.shops.api.views import ShopViewSet
from customer_service.statistics.api.views import DailyStatisticsViewSet
from customer_service.suggestions.api.views import KnowledgeSuggestionViewSet
from kefu.api.routers import OptionalSlashRouter

router = OptionalSlashRouter()
router.register("shops", ShopViewSet, basename="shop")
router.register("alerts", AlertEventViewSet, basename="alert")
router.register("alert-channels", AlertChannelViewSet, basename="alert-channel")
router.register("alert-deliveries", AlertDeliveryViewSet, basename="alert-delivery")
router.register("outbox", OutgoingReplyViewSet, basename="outbox")
router.register("messages", MessageViewSet, basename="message")
router.register("conversations", ConversationViewSet, basename="conversation")
router.register("review", review_api.ReviewItemViewSet, basename="review")
router.register("reply-templates", review_api.ReplyTemplateViewSet, basename="reply-template")
router.register("knowledge-suggestions", KnowledgeSuggestionViewSet, basename="knowledge-suggestion")
router.register("statistics", DailyStatisticsViewSet, basename="statistics")
urlpatterns = router.urls
