"""The review queue in the admin, and the reply templates.

The queue lists the pending items of the person's shops, oldest deadline first, with the time left. An item's
page shows the buyer's lines and the conversation so far, the matched FAQ with its confidence, and the draft in
a text box where templates are inserted by code (``review.js``); its buttons call the review services. When
someone else decided first, the page says so (409) instead of failing.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from customer_service.models import ReplyTemplate, ReviewItem, ReviewStatus, TransitionRefused
from kefu.admin import ScopedModelAdmin
from kefu.exceptions import KefuError

from . import decisions, selectors, services


def duration_text(seconds: int) -> str:
    """``2分05秒`` / ``2 min 05 s``; hours past 60 minutes."""
    seconds = abs(int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return gettext("%(h)d h %(m)02d min") % {"h": hours, "m": minutes}
    if minutes:
        return gettext("%(m)d min %(s)02d s") % {"m": minutes, "s": secs}
    return gettext("%(s)d s") % {"s": secs}


def time_left_text(deadline_at, now=None) -> str:
    left = int((deadline_at - (now or timezone.now())).total_seconds())
    if left < 0:
        return gettext("%(time)s overdue") % {"time": duration_text(left)}
    return duration_text(left)


class ReviewStatusFilter(admin.SimpleListFilter):
    """The queue shows pending items unless another status is chosen."""

    title = _("status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [*ReviewStatus.choices, ("all", _("All"))]

    def choices(self, changelist):
        value = self.value() or ReviewStatus.PENDING
        for lookup, title in self.lookup_choices:
            yield {"selected": value == lookup, "display": title,
                   "query_string": changelist.get_query_string({self.parameter_name: lookup})}

    def queryset(self, request, queryset):
        value = self.value() or ReviewStatus.PENDING
        if value == "all":
            return queryset
        if value not in ReviewStatus.values:
            return queryset.none()
        return queryset.filter(status=value)


class ReviewDecisionForm(forms.Form):
    text = forms.CharField(label=_("Reply"), required=False, max_length=5000, strip=True,
                           widget=forms.Textarea(attrs={"rows": 5, "cols": 80}))
    note = forms.CharField(label=_("Note"), required=False, max_length=2000, strip=True)


@admin.register(ReviewItem)
class ReviewItemAdmin(ScopedModelAdmin):
    list_display = ["time_left", "shop", "buyer", "question", "reason", "draft_text", "assigned_to", "status"]
    list_display_links = ["time_left", "question"]
    list_filter = [ReviewStatusFilter, "shop", "reason"]
    search_fields = ["message__content", "message__conversation__buyer_id", "draft__text"]
    list_select_related = ["shop", "message__conversation", "draft", "assigned_to"]
    ordering = ["deadline_at", "id"]
    show_full_result_count = False

    @admin.display(description=_("time left"), ordering="deadline_at")
    def time_left(self, obj):
        if obj.status != ReviewStatus.PENDING:
            return "-"
        text = time_left_text(obj.deadline_at)
        if obj.deadline_at <= timezone.now():
            return format_html('<strong style="color:#ba2121">{}</strong>', text)
        return text

    @admin.display(description=_("buyer"), ordering="message__conversation__buyer_id")
    def buyer(self, obj):
        return obj.message.conversation.buyer_id

    @admin.display(description=_("message"))
    def question(self, obj):
        return obj.message.content if len(obj.message.content) <= 40 else obj.message.content[:40] + "…"

    @admin.display(description=_("draft"))
    def draft_text(self, obj):
        if obj.draft is None:
            return "-"
        return obj.draft.text if len(obj.draft.text) <= 40 else obj.draft.text[:40] + "…"

    def has_add_permission(self, request):
        return False  # the pipeline opens items

    def has_delete_permission(self, request, obj=None):
        return False  # an item is decided, never deleted

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The item's review page: GET shows it, POST decides it through the services."""
        item = selectors.review_item_list(user=request.user).filter(pk=object_id).first() \
            if str(object_id).isdigit() else None
        if item is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, str(object_id))
        if not self.has_view_permission(request, item):
            raise DjangoPermissionDenied
        form = ReviewDecisionForm(request.POST or None, initial={"text": item.draft.text if item.draft else ""})
        status = 200
        if request.method == "POST":
            if not self.has_change_permission(request, item):
                raise DjangoPermissionDenied
            outcome = self._decide(request, item, form)
            if outcome is None:
                return HttpResponseRedirect(reverse("admin:customer_service_reviewitem_changelist"))
            status = outcome
            item = selectors.review_item_list(user=request.user).get(pk=item.pk)
        return TemplateResponse(request, "admin/customer_service/reviewitem/review.html",
                                self._page_context(request, item, form), status=status)

    def _decide(self, request, item, form) -> int | None:
        """Run the chosen decision. None: done (a message says what happened); else the status of the page that
        shows why not (its error message is set)."""
        if not form.is_valid():
            return 400
        action, text, note = request.POST.get("_action"), form.cleaned_data["text"], form.cleaned_data["note"]
        try:
            if action == "approve":
                if item.draft is not None and text == item.draft.text.strip():
                    outcome = decisions.review_item_approve(actor=request.user, item=item)
                else:
                    outcome = decisions.review_item_edit(actor=request.user, item=item, text=text)
                self.message_user(request, gettext("Sent to the outbox: %(text)s") % {"text": outcome.outgoing.text},
                                  messages.SUCCESS)
            elif action == "reject":
                decisions.review_item_reject(actor=request.user, item=item, note=note)
                self.message_user(request, gettext("Rejected: nothing is sent to the buyer."), messages.SUCCESS)
            elif action == "assign":
                decisions.review_item_assign(actor=request.user, item=item, user=request.user)
                self.message_user(request, gettext("The item is assigned to you."), messages.SUCCESS)
                return 200
            else:
                self.message_user(request, gettext("Choose approve, reject or assign."), messages.ERROR)
                return 400
        except TransitionRefused as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return exc.status_code
        except KefuError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return exc.status_code
        return None

    def _page_context(self, request, item, form):
        burst = selectors.review_item_burst(item=item)
        burst_ids = {line.pk for line in burst}
        lines = selectors.review_item_conversation(item=item)
        now = timezone.now()
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Review: %(buyer)s") % {"buyer": item.message.conversation.buyer_id},
            "item": item,
            "pending": item.status == ReviewStatus.PENDING,
            "may_decide": item.status == ReviewStatus.PENDING and self.has_change_permission(request, item),
            "burst": burst,
            "lines": [(line, line.pk in burst_ids) for line in lines],
            "draft": item.draft,
            "knowledge": item.draft.knowledge_item if item.draft and item.draft.knowledge_item_id else None,
            "time_left": time_left_text(item.deadline_at, now),
            "overdue": item.deadline_at <= now,
            "form": form,
            "templates": selectors.reply_templates_for_shop(shop=item.shop),
            "has_view_permission": True,
        }


class ReplyTemplateForm(forms.ModelForm):
    class Meta:
        model = ReplyTemplate
        fields = ["shop", "code", "title", "text", "is_active"]

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean(self):
        cleaned = super().clean()
        try:
            if self.instance.pk is not None:
                services.template_manager_check(actor=self.user, shop=self.instance.shop)
            services.template_manager_check(actor=self.user, shop=cleaned.get("shop"))
        except KefuError as exc:
            raise forms.ValidationError(exc.message) from None
        return cleaned


@admin.register(ReplyTemplate)
class ReplyTemplateAdmin(ScopedModelAdmin):
    list_display = ["code", "title", "text", "shop_or_shared", "is_active", "updated_at"]
    list_filter = ["is_active", "shop"]
    search_fields = ["code", "title", "text"]
    list_select_related = ["shop"]
    ordering = ["code", "shop__name"]
    form = ReplyTemplateForm

    @admin.display(description=_("shop"), ordering="shop__name")
    def shop_or_shared(self, obj):
        return obj.shop or gettext("shared by every shop")

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)

        class WithUser(form):
            def __init__(self, *args, **inner):
                super().__init__(*args, user=request.user, **inner)

        return WithUser

    def has_add_permission(self, request):
        from customer_service.shops.selectors import is_shop_admin_anywhere

        return self._is_member(request) and (request.user.is_superadmin or is_shop_admin_anywhere(user=request.user))

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in ("code", "title", "text", "is_active")}
        if change:
            saved = services.reply_template_update(actor=request.user, template=obj, shop=form.cleaned_data["shop"],
                                                   **fields)
        else:
            saved = services.reply_template_create(actor=request.user, shop=form.cleaned_data["shop"], **fields)
        obj.pk = saved.pk

    def delete_model(self, request, obj):
        services.reply_template_delete(actor=request.user, template=obj)

    def delete_queryset(self, request, queryset):
        for template in queryset:
            services.reply_template_delete(actor=request.user, template=template)
