"""Admin pages of conversations and messages: read-only, scoped to the person's shops.

Messages are written by ingest and the pipeline only; the one thing a person does here is put a
handled message back in front of a person (the "send to review" action, through a service).
"""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from customer_service.models import Conversation, Message
from kefu.admin import ReadOnlyAdminMixin, ScopedModelAdmin, checks_own_permissions
from kefu.exceptions import KefuError

from . import services

MESSAGE_FIELDS = ["received_at", "direction", "content", "status", "status_rule", "status_detail", "source",
                  "external_id", "sent_at", "answered_at", "handled_by", "burst_head", "attempts"]


class MessageInline(admin.TabularInline):
    model = Message
    fields = ["received_at", "direction", "content", "status", "status_rule", "answered_at"]
    readonly_fields = fields
    ordering = ["received_at", "id"]
    extra = 0
    can_delete = False
    show_change_link = True

    def has_view_permission(self, request, obj=None):
        return True  # the conversation page itself is scoped

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdminMixin, ScopedModelAdmin):
    list_display = ["buyer_id", "shop", "last_activity_at", "takeover_until", "created_at"]
    list_filter = ["shop", "last_activity_at"]
    search_fields = ["buyer_id"]
    list_select_related = ["shop"]
    date_hierarchy = "last_activity_at"
    fields = ["shop", "buyer_id", "last_activity_at", "takeover_until", "away_sent_at", "created_at"]
    readonly_fields = fields
    inlines = [MessageInline]
    show_full_result_count = False


@admin.register(Message)
class MessageAdmin(ReadOnlyAdminMixin, ScopedModelAdmin):
    list_display = ["received_at", "shop", "buyer", "direction", "short_content", "status", "status_rule",
                    "answered_at"]
    list_filter = ["status", "direction", "status_rule", "shop", "received_at"]
    search_fields = ["content", "conversation__buyer_id", "external_id"]
    list_select_related = ["shop", "conversation"]
    date_hierarchy = "received_at"
    fields = ["shop", "conversation", *MESSAGE_FIELDS]
    readonly_fields = fields
    actions = ["send_to_review"]
    show_full_result_count = False

    @admin.display(description=_("buyer"), ordering="conversation__buyer_id")
    def buyer(self, obj):
        return obj.conversation.buyer_id

    @admin.display(description=_("content"))
    def short_content(self, obj):
        return obj.content if len(obj.content) <= 60 else obj.content[:60] + "…"

    @checks_own_permissions
    @admin.action(description=_("Send to review"))
    def send_to_review(self, request, queryset):
        sent, refused = 0, []
        for message in queryset.select_related("shop"):
            try:
                services.message_review_request(actor=request.user, message=message)
            except KefuError as exc:
                refused.append(f"#{message.pk}: {exc.message}")
            else:
                sent += 1
        if sent:
            self.message_user(request, ngettext("%(n)d message sent to review.", "%(n)d messages sent to review.",
                                                sent) % {"n": sent}, messages.SUCCESS)
        for text in refused:
            self.message_user(request, text, messages.WARNING)
