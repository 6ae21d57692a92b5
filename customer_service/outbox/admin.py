"""The outbox in the admin: every reply on its way to a buyer with its receipt, for the people of its shop;
a queued reply can be cancelled (its message goes back to review). Rows change only through the services."""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from customer_service.models import OutgoingReply, OutgoingState
from kefu.admin import ScopedModelAdmin
from kefu.exceptions import KefuError

from . import services


@admin.register(OutgoingReply)
class OutgoingReplyAdmin(ScopedModelAdmin):
    list_display = ["created_at", "shop", "buyer", "short_text", "state", "channel", "claimed_by", "finished_at"]
    list_filter = ["state", "channel", "shop", "created_at"]
    search_fields = ["text", "conversation__buyer_id", "claimed_by"]
    list_select_related = ["shop", "conversation"]
    date_hierarchy = "created_at"
    ordering = ["-created_at", "-id"]
    readonly_fields = ["shop", "conversation", "message", "reply", "text", "state", "channel", "claimed_by",
                       "claimed_at", "lease_until", "finished_at", "receipt_reason", "created_at", "updated_at"]
    fields = readonly_fields
    actions = ["cancel_selected"]

    @admin.display(description=_("buyer"), ordering="conversation__buyer_id")
    def buyer(self, obj):
        return obj.conversation.buyer_id

    @admin.display(description=_("text"))
    def short_text(self, obj):
        return obj.text if len(obj.text) <= 60 else obj.text[:59] + "…"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # Written by the services only; cancelling is an action, not an edit.
        return False

    def has_delete_permission(self, request, obj=None):
        # The record of what was sent stays until the shop's retention period ends.
        return False

    @admin.action(description=_("Cancel the selected queued replies (their messages go back to review)"))
    def cancel_selected(self, request, queryset):
        cancelled = 0
        for outgoing in queryset.filter(state=OutgoingState.QUEUED).select_related("shop"):
            try:
                services.outgoing_reply_cancel(actor=request.user, outgoing=outgoing)
                cancelled += 1
            except KefuError as exc:
                self.message_user(request, f"{outgoing.pk}: {exc.message}", messages.WARNING)
        skipped = queryset.exclude(state=OutgoingState.QUEUED).count()
        if skipped:
            self.message_user(request, ngettext(
                "%(n)d selected reply was no longer queued (being sent or finished) and was left as it was.",
                "%(n)d selected replies were no longer queued (being sent or finished) and were left as they were.",
                skipped) % {"n": skipped}, messages.WARNING)
        self.message_user(request, ngettext("%(n)d reply cancelled.", "%(n)d replies cancelled.", cancelled)
                          % {"n": cancelled}, messages.SUCCESS)
