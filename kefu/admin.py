"""Base admin classes: shop scoping and soft delete, applied in one place."""

import functools

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.widgets import ForeignKeyRawIdWidget
from django.core.exceptions import EmptyResultSet, ValidationError
from django.db import DataError, transaction
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .exceptions import KefuError
from .scoping import roles


class ScopedRelatedFieldListFilter(admin.RelatedFieldListFilter):
    """A foreign-key filter that offers only the related rows the person may see."""

    def field_choices(self, field, request, model_admin):
        related = field.related_model._default_manager.all()
        if hasattr(related, "for_user"):
            related = related.for_user(request.user)
        return [(obj.pk, str(obj)) for obj in related]


class ScopedRawIdWidget(ForeignKeyRawIdWidget):
    """A raw-id box that names the row typed in only when it is in ``queryset``.

    Django's names any row of the table when the form comes back with an error, which would
    tell a person the name behind any id they type.
    """

    def __init__(self, rel, admin_site, *, queryset, attrs=None, using=None):
        super().__init__(rel, admin_site, attrs=attrs, using=using)
        self.queryset = queryset

    def label_and_url_for_value(self, value):
        key = self.rel.get_related_field().name
        try:
            shown = self.queryset.filter(**{key: value}).exists()
        except (ValueError, TypeError, OverflowError, ValidationError, DataError):
            shown = False
        return super().label_and_url_for_value(value) if shown else ("", "")


def scoped_raw_id_widget(db_field, admin_site, request, queryset=None, using=None):
    """The raw-id widget for ``db_field``: labels only rows of ``queryset`` (default: what the person sees)."""
    if queryset is None:
        queryset = db_field.related_model._default_manager.all()
        if hasattr(queryset, "for_user"):
            queryset = queryset.for_user(request.user)
    return ScopedRawIdWidget(db_field.remote_field, admin_site, queryset=queryset, using=using)


def checks_own_permissions(action):
    """Mark an admin action that reads the selected rows and checks what it changes itself
    (e.g. a history row's rollback changes the config): it gets every selected visible row."""
    action.checks_own_permissions = True
    return action


def _provably_empty(queryset) -> bool:
    """Whether ``queryset`` can hold no row whatever the table holds (``none()``, ``pk__in=[]``), without a query."""
    if queryset.query.is_empty():
        return True
    try:
        queryset.query.get_compiler(queryset.db).as_sql()
    except EmptyResultSet:
        return True
    return False


class ScopedModelAdmin(admin.ModelAdmin):
    """An admin whose rows come from ``model.objects.for_user(user)``.

    Viewing needs the row in ``for_user``; changing and deleting need it in
    ``manageable_by``. Django's per-model permissions are not used: roles come
    from shop memberships.
    """

    def get_queryset(self, request):
        return super().get_queryset(request).for_user(request.user)

    def get_list_filter(self, request):
        # A plain foreign-key filter would list every shop; scope its choices.
        scoped = []
        for entry in super().get_list_filter(request):
            if isinstance(entry, str) and "__" not in entry:
                field = self.model._meta.get_field(entry)
                if field.is_relation and field.many_to_one:
                    entry = (entry, ScopedRelatedFieldListFilter)
            scoped.append(entry)
        return scoped

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # Offered (and accepted): the rows the person may put things into, e.g. shops they
        # administer; reference rows such as providers offer everything they may read.
        related = db_field.related_model._default_manager.all()
        if "queryset" not in kwargs and db_field.name not in self.raw_id_fields:
            if hasattr(related, "assignable_by"):
                kwargs["queryset"] = related.assignable_by(request.user)
            elif hasattr(related, "manageable_by"):
                kwargs["queryset"] = related.manageable_by(request.user)
        if db_field.name in self.raw_id_fields and "widget" not in kwargs:
            kwargs["widget"] = scoped_raw_id_widget(db_field, self.admin_site, request, kwargs.get("queryset"),
                                                    kwargs.get("using"))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def manageable_queryset(self, request):
        # Deleted rows too: restoring and purging them are changes like any other.
        manager = getattr(self.model, "all_objects", self.model._default_manager)
        return manager.all().manageable_by(request.user)

    def get_actions(self, request):
        return {name: (func if getattr(func, "checks_own_permissions", False) else self._on_manageable_rows(func),
                       name, description)
                for name, (func, name, description) in super().get_actions(request).items()}

    def _on_manageable_rows(self, action):
        """Run ``action`` only on the selected rows the person may change.

        The changelist shows every row the person may *see* (a shop admin sees the
        shared rows and the shops where they are an agent); an action must not
        reach the ones they may only read.
        """

        @functools.wraps(action)
        def scoped(modeladmin, request, queryset):
            allowed = queryset.filter(pk__in=self.manageable_queryset(request).values("pk"))
            refused = queryset.count() - allowed.count()
            if refused:
                self.message_user(request, ngettext(
                    "%(n)d selected row is not yours to change and was left as it was.",
                    "%(n)d selected rows are not yours to change and were left as they were.", refused,
                ) % {"n": refused}, messages.WARNING)
            if not allowed.exists():
                return None
            return action(modeladmin, request, allowed)

        return scoped

    def _is_member(self, request) -> bool:
        # Asked once per registered model on every admin page: remember it for the request.
        if not hasattr(request, "_kefu_is_member"):
            user = request.user
            request._kefu_is_member = user.is_active and user.is_staff and (user.is_superadmin or roles().has_any(user))
        return request._kefu_is_member

    def has_module_permission(self, request):
        return self._is_member(request)

    def has_view_permission(self, request, obj=None):
        if not self._is_member(request):
            return False
        return obj is None or self.get_queryset(request).filter(pk=obj.pk).exists()

    def has_change_permission(self, request, obj=None):
        if not self._is_member(request):
            return False
        manageable = self.manageable_queryset(request)
        if obj is not None:
            return manageable.filter(pk=obj.pk).exists()
        # Whether the person may change rows of this kind at all. Asked for every model on every
        # admin page (the sidebar), twice (change, delete): answered once per request, and from
        # the filter alone, without a query: anyone may change a kind whose rows they manage,
        # rows or not yet (a shop admin's first FAQ, a fresh site's first price), so a kind
        # says "view" only when no row could ever be theirs (``none()``, or ids they have none of).
        answers = request.__dict__.setdefault("_kefu_may_change", {})
        if self.model not in answers:
            # A superadmin may change every kind whose rows are not read-only by construction, rows or not
            # yet; anyone else only a kind with a row they manage (an agent manages no shop: "view").
            answers[self.model] = (not _provably_empty(manageable) if request.user.is_superadmin
                                   else manageable.exists())
        return answers[self.model]

    def has_delete_permission(self, request, obj=None):
        return self.has_change_permission(request, obj)

    def has_add_permission(self, request):
        return request.user.is_active and request.user.is_superadmin


class ReadOnlyAdminMixin:
    """Rows only the code writes (history, usage, sign-ins): shown, never added, edited or deleted here.

    Actions that change something else (a rollback, a revoke) check their own permissions.
    """

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class SoftDeleteAdminMixin:
    """Deleting in the admin hides the row; "restore" brings it back; "purge" removes it for good.

    A "show deleted" filter lists the hidden rows. Purging goes through a
    confirmation page, like Django's own delete action.
    """

    actions = ["restore_selected", "purge_selected"]

    def get_queryset(self, request):
        qs = self.model.all_objects.get_queryset()
        ordering = self.get_ordering(request)
        if ordering:
            qs = qs.order_by(*ordering)
        if hasattr(qs, "for_user"):
            qs = qs.for_user(request.user)
        return qs

    def get_list_filter(self, request):
        return (DeletedListFilter, *super().get_list_filter(request))

    def delete_model(self, request, obj):
        obj.soft_delete()

    def delete_queryset(self, request, queryset):
        queryset.soft_delete()

    @admin.action(description=_("Restore selected (undo delete)"))
    def restore_selected(self, request, queryset):
        count = queryset.filter(deleted_at__isnull=False).restore()
        self.message_user(
            request, ngettext("%(n)d row restored.", "%(n)d rows restored.", count) % {"n": count}, messages.SUCCESS
        )

    def purge_rows(self, request, queryset) -> int:
        """Remove ``queryset``'s rows for good and say how many; an admin whose rows have a purge
        service calls it here. A KefuError refuses the purge (nothing is removed) with its message."""
        count = 0
        for obj in queryset:
            obj.hard_delete()
            count += 1
        return count

    @admin.action(description=_("Delete permanently (cannot be undone)"))
    def purge_selected(self, request, queryset):
        if request.POST.get("confirm_purge") == "yes":
            try:
                with transaction.atomic():
                    count = self.purge_rows(request, queryset)
            except KefuError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                return None
            self.message_user(
                request,
                ngettext("%(n)d row deleted permanently.", "%(n)d rows deleted permanently.", count) % {"n": count},
                messages.SUCCESS,
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": _("Delete permanently?"),
            "queryset": queryset,
            "opts": self.model._meta,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/kefu/confirm_purge.html", context)


class DeletedListFilter(admin.SimpleListFilter):
    title = _("deleted")
    parameter_name = "deleted"

    def lookups(self, request, model_admin):
        return (("no", _("Not deleted")), ("yes", _("Deleted")), ("all", _("All")))

    def choices(self, changelist):
        value = self.value() or "no"
        for lookup, title in self.lookup_choices:
            yield {
                "selected": value == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        value = self.value() or "no"
        if value == "no":
            return queryset.filter(deleted_at__isnull=True)
        if value == "yes":
            return queryset.filter(deleted_at__isnull=False)
        return queryset
