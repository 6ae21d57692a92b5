"""Knowledge admin: items with their similar questions, vector status, reindex, try-a-query and import pages."""

import time

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Prefetch
from django.forms.models import BaseInlineFormSet
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from kefu.admin import ScopedModelAdmin, SoftDeleteAdminMixin

from . import selectors, services
from .choices import VectorStatus
from .exceptions import KnowledgeError
from .forms import ImportForm, KnowledgeItemForm, TryQueryForm
from .models import KnowledgeItem, SimilarQuestion
from .transfer import format_of, knowledge_import

STATUS_COLOURS = {VectorStatus.FRESH: "#2e7d32", VectorStatus.STALE: "#ef6c00", VectorStatus.MISSING: "#c62828"}


class SimilarQuestionFormSet(BaseInlineFormSet):
    """Checks the similar questions as the services do ("|", control characters, length)."""

    def texts(self) -> list[str]:
        """The texts kept by the form, in their position order."""
        rows = [form.cleaned_data for form in self.forms
                if form.cleaned_data and not form.cleaned_data.get("DELETE") and form.cleaned_data.get("text")]
        return [row["text"] for row in sorted(rows, key=lambda row: row.get("position") or 0)]

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        try:
            services.clean_similar_questions(self.texts(), question=self.instance.question or "")
        except KnowledgeError as exc:
            raise ValidationError(exc.message) from exc


class SimilarQuestionInline(admin.TabularInline):
    """Editable by whoever may change the item (roles come from shop memberships, not Django permissions)."""

    model = SimilarQuestion
    formset = SimilarQuestionFormSet
    extra = 1
    fields = ["text", "position"]

    def _may_write(self, request, obj):
        parent = self.admin_site._registry[KnowledgeItem]
        return parent.has_change_permission(request, obj) if obj else parent.has_add_permission(request)

    def has_view_permission(self, request, obj=None):
        return self.admin_site._registry[KnowledgeItem].has_view_permission(request, obj)

    def has_add_permission(self, request, obj=None):
        return self._may_write(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._may_write(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._may_write(request, obj)


@admin.register(KnowledgeItem)
class KnowledgeItemAdmin(SoftDeleteAdminMixin, ScopedModelAdmin):
    form = KnowledgeItemForm
    inlines = [SimilarQuestionInline]
    list_display = ["question", "shop_or_shared", "category", "is_active", "vectors", "updated_at"]
    list_filter = ["shop", "is_active", "category"]
    list_select_related = ["shop"]
    search_fields = ["question", "answer", "similar_questions__text", "external_id"]
    readonly_fields = ["vectors", "keywords_text", "created_by", "updated_by", "created_at", "updated_at"]
    actions = ["reindex_selected", "activate_selected", "deactivate_selected", "restore_selected", "purge_selected"]
    change_list_template = "admin/knowledge/knowledgeitem/change_list.html"

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related(
            Prefetch("similar_questions", queryset=SimilarQuestion.objects.order_by("position", "id"))
        )

    def has_add_permission(self, request):
        return self._is_member(request) and (request.user.is_superadmin or _administers_a_shop(request.user))

    def get_changelist_instance(self, request):
        # The vector column of a page: one query for all its rows, not one per row.
        changelist = super().get_changelist_instance(request)
        statuses = selectors.knowledge_vector_statuses(items=changelist.result_list)
        for item in changelist.result_list:
            item.vector_status = statuses[item.pk]
        return changelist

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if not request.user.is_superadmin and "shop" in form.base_fields:
            form.base_fields["shop"].required = True  # shop admins cannot write shared items
        return form

    def get_fields(self, request, obj=None):
        # People who may only read the item see its keywords as text, the way the form takes them,
        # not as a JSON list.
        fields = [name for name in super().get_fields(request, obj) if name != "keywords_text"]
        if obj is not None and not self.has_change_permission(request, obj):
            fields = ["keywords_text" if name == "keywords" else name for name in fields]
        return fields

    @admin.display(description=_("keywords"))
    def keywords_text(self, obj):
        return " | ".join(obj.keywords or []) or "—"

    @admin.display(description=_("shop"), ordering="shop__name")
    def shop_or_shared(self, obj):
        return obj.shop or _("(shared by all shops)")

    @admin.display(description=_("vectors"))
    def vectors(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        status = getattr(obj, "vector_status", None) or selectors.knowledge_item_vector_status(item=obj)
        return format_html('<span style="color:{}">● {}</span>', STATUS_COLOURS[status],
                           VectorStatus(status).label)

    # Writes go through the services so the index stamp changes with them.
    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in ("question", "answer", "category", "keywords",
                                                             "is_active", "external_id")}
        if change:
            # Applied in save_related together with the similar questions: one service call, one
            # stamp change and one queued reindex for one save.
            obj._pending_update = {"shop": form.cleaned_data.get("shop"), **fields}
        else:
            created = services.knowledge_item_create(actor=request.user, shop=form.cleaned_data.get("shop"),
                                                     **fields)
            obj.pk = created.pk
            obj._state.adding = False
            obj.refresh_from_db()

    def save_related(self, request, form, formsets, change):
        # The similar questions go through the service like every other write: cleaned,
        # the question itself left out, the stamp bumped and the vectors queued.
        form.save_m2m()
        changes = form.instance.__dict__.pop("_pending_update", {})
        for formset in formsets:
            if isinstance(formset, SimilarQuestionFormSet):
                formset.save(commit=False)  # only lists the changes, for the admin's history message
                changes["similar_questions"] = formset.texts()
        if changes:
            services.knowledge_item_update(item=form.instance, actor=request.user, **changes)

    def delete_model(self, request, obj):
        services.knowledge_item_delete(item=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for item in queryset:
            services.knowledge_item_delete(item=item, actor=request.user)

    @admin.action(description=_("Restore selected (undo delete)"))
    def restore_selected(self, request, queryset):
        items = list(queryset.filter(deleted_at__isnull=False))
        for item in items:
            services.knowledge_item_restore(item=item, actor=request.user)
        self.message_user(request, ngettext("%(n)d item restored.", "%(n)d items restored.", len(items))
                          % {"n": len(items)}, messages.SUCCESS)

    @admin.action(description=_("Delete permanently (cannot be undone)"))
    def purge_selected(self, request, queryset):
        # One transaction: the rows and the stamps change together, so no process
        # can keep answering with a purged item. The stamps first, as every writer does.
        with transaction.atomic():
            if request.POST.get("confirm_purge") == "yes":
                services.knowledge_scopes_changed(shop_ids=set(queryset.values_list("shop_id", flat=True)))
            return super().purge_selected(request, queryset)

    @admin.action(description=_("Rebuild vectors of selected items"))
    def reindex_selected(self, request, queryset):
        count = services.knowledge_items_reindex_later(items=queryset)
        self.message_user(request, ngettext("Vectors of %(n)d item will be rebuilt.",
                                            "Vectors of %(n)d items will be rebuilt.", count) % {"n": count},
                          messages.SUCCESS)

    @admin.action(description=_("Activate selected items"))
    def activate_selected(self, request, queryset):
        count = services.knowledge_items_set_active(items=queryset, actor=request.user, active=True)
        self.message_user(request, ngettext("%(n)d item activated.", "%(n)d items activated.", count)
                          % {"n": count}, messages.SUCCESS)

    @admin.action(description=_("Deactivate selected items"))
    def deactivate_selected(self, request, queryset):
        count = services.knowledge_items_set_active(items=queryset, actor=request.user, active=False)
        self.message_user(request, ngettext("%(n)d item deactivated.", "%(n)d items deactivated.", count)
                          % {"n": count}, messages.SUCCESS)

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not self.has_change_permission(request):
            for name in ("reindex_selected", "activate_selected", "deactivate_selected", "restore_selected",
                         "purge_selected"):
                actions.pop(name, None)
        return actions

    # ------------------------------------------------------------------ pages
    def get_urls(self):
        return [
            path("try/", self.admin_site.admin_view(self.try_query_view), name="knowledge_knowledgeitem_try"),
            path("import/", self.admin_site.admin_view(self.import_view), name="knowledge_knowledgeitem_import"),
            *super().get_urls(),
        ]

    def _page(self, request, template, **context):
        return TemplateResponse(request, template, {
            **self.admin_site.each_context(request), "opts": self.model._meta,
            "changelist_url": reverse("admin:knowledge_knowledgeitem_changelist"), **context,
        })

    def try_query_view(self, request):
        """Like Dify's retrieval test: ranked hits, matched phrasing, each signal and the confidence."""
        if not self.has_view_permission(request):
            return self._denied(request)
        form = TryQueryForm(request.GET or None, user=request.user)
        hits, took_ms, uncalibrated = None, None, None
        if form.is_bound and form.is_valid():
            started = time.perf_counter()
            try:
                hits = selectors.knowledge_search(shop=form.cleaned_data["shop"], text=form.cleaned_data["q"],
                                                  k=form.cleaned_data["k"])
            except KnowledgeError as exc:
                form.add_error("q", exc.message)
            took_ms = (time.perf_counter() - started) * 1000
            if hits and not hits[0].calibrated:
                uncalibrated = selectors.calibration_state().detail
        return self._page(request, "admin/knowledge/knowledgeitem/try_query.html", title=_("Try a query"),
                          form=form, hits=hits, took_ms=took_ms, uncalibrated=uncalibrated)

    def may_import(self, request) -> bool:
        """Importing writes items: superadmins and shop admins, never agents."""
        return self._is_member(request) and (request.user.is_superadmin or _administers_a_shop(request.user))

    def changelist_view(self, request, extra_context=None):
        # The Import button leads to a page agents are refused; offer it only to who may use it.
        return super().changelist_view(request, {**(extra_context or {}), "may_import": self.may_import(request)})

    def import_view(self, request):
        if not self.may_import(request):
            return self._denied(request)
        form = ImportForm(request.POST or None, request.FILES or None, user=request.user)
        report, errors = None, None
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                report = knowledge_import(
                    actor=request.user, shop=form.cleaned_data["shop"], data=upload.read(),
                    fmt=format_of(upload.name, form.cleaned_data["format"] or None),
                    skip_invalid=form.cleaned_data["skip_invalid"], on_duplicate=form.cleaned_data["on_duplicate"],
                )
            except KnowledgeError as exc:
                errors = exc.detail or []
                form.add_error(None, exc.message)
            else:
                errors = report.errors
                self.message_user(request, _("Imported: %(c)d new, %(u)d updated, %(s)d skipped.")
                                  % {"c": report.created, "u": report.updated, "s": report.skipped},
                                  messages.SUCCESS)
        return self._page(request, "admin/knowledge/knowledgeitem/import.html", title=_("Import knowledge items"),
                          form=form, report=report, errors=errors)

    def _denied(self, request):
        from django.core.exceptions import PermissionDenied

        raise PermissionDenied


def _administers_a_shop(user) -> bool:
    from customer_service.shops.selectors import is_shop_admin_anywhere

    return is_shop_admin_anywhere(user=user)
