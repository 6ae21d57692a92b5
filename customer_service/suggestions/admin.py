"""Knowledge suggestions in the admin: a shop's admins accept (as suggested or with their edits) or dismiss each in
one click; its agents see them."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from customer_service.models import KnowledgeSuggestion, SuggestionKind, SuggestionStatus
from customer_service.shops.selectors import is_shop_admin_anywhere, shop_is_manageable
from kefu.admin import ScopedModelAdmin
from kefu.exceptions import KefuError, PermissionDenied

from . import selectors, services


class KnowledgeSuggestionForm(forms.ModelForm):
    class Meta:
        model = KnowledgeSuggestion
        fields = ["question", "answer"]
        widgets = {"question": forms.Textarea(attrs={"rows": 2}), "answer": forms.Textarea(attrs={"rows": 4})}


@admin.register(KnowledgeSuggestion)
class KnowledgeSuggestionAdmin(ScopedModelAdmin):
    form = KnowledgeSuggestionForm
    list_display = ["question", "kind", "shop", "count", "status", "knowledge_item", "updated_at"]
    list_filter = ["status", "kind", "shop"]
    search_fields = ["question", "answer"]
    list_select_related = ["shop", "knowledge_item"]
    readonly_fields = ["shop", "kind", "knowledge_item", "count", "status", "review_item", "created_item",
                       "decided_by", "decided_at", "created_at"]
    fields = ["shop", "kind", "question", "answer", "knowledge_item", "count", "status", "review_item",
              "created_item", "decided_by", "decided_at", "created_at"]
    actions = ["accept_selected", "dismiss_selected"]
    change_form_template = "admin/customer_service/knowledgesuggestion/change_form.html"
    change_list_template = "admin/customer_service/knowledgesuggestion/change_list.html"

    def has_add_permission(self, request):
        return False

    def get_list_display(self, request):
        # The decision buttons need the person (which shops they manage): a column made per request.
        def decide(obj):
            return self._decide_buttons(request, obj)

        decide.short_description = _("decide")
        return [*super().get_list_display(request), decide]

    def _decide_buttons(self, request, obj):
        """Accept / Dismiss in one click for a pending row of a shop the person manages (the buttons post the
        list's own form, with its CSRF token, to this row's decision URL). A new entry without an answer links
        to its page, where the admin writes it."""
        if obj.status != SuggestionStatus.PENDING or not shop_is_manageable(user=request.user, shop=obj.shop_id):
            return ""
        name = "admin:customer_service_knowledgesuggestion_%s"
        query = f"?{request.GET.urlencode()}" if request.GET else ""  # back to the list as filtered
        if obj.kind == SuggestionKind.NEW_ITEM and not obj.answer.strip():
            return format_html('<a class="button" href="{}">{}</a>', reverse(name % "change", args=[obj.pk]),
                               _("Write the answer"))
        return format_html(
            '<button type="submit" class="button default" formaction="{}" formmethod="post" '
            'data-decide="accept">{}</button> '
            '<button type="submit" class="button" formaction="{}" formmethod="post" data-decide="dismiss">{}</button>',
            reverse(name % "accept", args=[obj.pk]) + query, _("Accept"),
            reverse(name % "dismiss", args=[obj.pk]) + query, _("Dismiss"))

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:object_id>/accept/", wrap(self.accept_view), name="customer_service_knowledgesuggestion_accept"),
            path("<int:object_id>/dismiss/", wrap(self.dismiss_view),
                 name="customer_service_knowledgesuggestion_dismiss"),
            path("by-entry/", wrap(self.by_entry_view), name="customer_service_knowledgesuggestion_by_entry"),
            *super().get_urls(),
        ]

    def by_entry_view(self, request):
        """The suggestions the person sees, counted per knowledge entry (which entries buyers keep asking in
        other words, which answers people keep correcting)."""
        if not self.has_view_permission(request):
            raise DjangoPermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": _("Suggestions by knowledge entry"),
            "rows": selectors.knowledge_suggestion_counts_by_entry(user=request.user),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/customer_service/knowledgesuggestion/by_entry.html", context)

    def _decide_view(self, request, object_id, service, done_message):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        suggestion = get_object_or_404(self.get_queryset(request), pk=object_id)
        try:
            service(actor=request.user, suggestion=suggestion)
        except PermissionDenied as exc:
            raise DjangoPermissionDenied(exc.message) from exc
        except KefuError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            self.message_user(request, done_message % {"question": suggestion.question[:40]}, messages.SUCCESS)
        changelist = reverse("admin:customer_service_knowledgesuggestion_changelist")
        return HttpResponseRedirect(changelist + (f"?{request.GET.urlencode()}" if request.GET else ""))

    def accept_view(self, request, object_id):
        return self._decide_view(request, object_id, services.knowledge_suggestion_accept,
                                 _("Accepted “%(question)s”: the knowledge base answers it now."))

    def dismiss_view(self, request, object_id):
        return self._decide_view(request, object_id, services.knowledge_suggestion_dismiss,
                                 _("Dismissed “%(question)s”."))

    def has_delete_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superadmin

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.status != SuggestionStatus.PENDING:
            return False
        return super().has_change_permission(request, obj)

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not (request.user.is_superadmin or is_shop_admin_anywhere(user=request.user)):
            actions.pop("accept_selected", None)
            actions.pop("dismiss_selected", None)
        return actions

    def save_model(self, request, obj, form, change):
        # The change page's buttons: "accept" (with the texts as edited) or "dismiss"; nothing else is saved.
        try:
            if "_dismiss" in request.POST:
                services.knowledge_suggestion_dismiss(actor=request.user, suggestion=obj)
                self.message_user(request, _("Suggestion dismissed."), messages.SUCCESS)
            else:
                services.knowledge_suggestion_accept(actor=request.user, suggestion=obj,
                                                     question=form.cleaned_data["question"],
                                                     answer=form.cleaned_data["answer"])
                self.message_user(request, _("Suggestion accepted: the knowledge base answers it now."),
                                  messages.SUCCESS)
        except KefuError as exc:
            self.message_user(request, exc.message, messages.ERROR)

    def response_change(self, request, obj):
        return HttpResponseRedirect(reverse("admin:customer_service_knowledgesuggestion_changelist"))

    def _each(self, request, queryset, service, done_message):
        done = 0
        for suggestion in queryset.filter(status=SuggestionStatus.PENDING):
            try:
                service(actor=request.user, suggestion=suggestion)
                done += 1
            except KefuError as exc:
                self.message_user(request, f"{suggestion}: {exc.message}", messages.WARNING)
        self.message_user(request, done_message % {"n": done}, messages.SUCCESS)

    @admin.action(description=_("Accept the selected suggestions as they are"))
    def accept_selected(self, request, queryset):
        self._each(request, queryset, services.knowledge_suggestion_accept, _("%(n)d suggestions accepted."))

    @admin.action(description=_("Dismiss the selected suggestions"))
    def dismiss_selected(self, request, queryset):
        self._each(request, queryset, services.knowledge_suggestion_dismiss, _("%(n)d suggestions dismissed."))
