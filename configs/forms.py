"""Admin forms: the config values editor is generated from the template's JSON Schema (django-jsonform)."""

import json

from django import forms
from django.utils.translation import gettext_lazy as _
from django_jsonform.forms.fields import JSONFormField

from . import schema as schema_utils
from . import selectors, services
from . import values as config_values
from .choices import ValueType
from .exceptions import ConfigError
from .models import ConfigTemplate, SystemConfig, UserConfig


class SchemaValuesField(JSONFormField):
    """django-jsonform's editor; validation is left to configs.services so admin and API refuse alike."""

    def validate(self, value):
        forms.JSONField.validate(self, value)


def _errors_to_form(form: forms.Form, exc: ConfigError, field: str) -> None:
    details = exc.detail if isinstance(exc.detail, list) else []
    if not details:
        form.add_error(field if field in form.fields else None, exc.message)
    for row in details:
        form.add_error(field if field in form.fields else None, f"{row['path']}: {row['message']}")


def _check_expiry(form: forms.ModelForm, cleaned: dict) -> None:
    """A new expiry in the past for a config that stays active: a field error, so what was typed stays."""
    if "expires_at" not in form.changed_data or "expires_at" not in form.fields:
        return
    try:
        services.config_expiry_validate(cleaned.get("expires_at"), active=bool(cleaned.get("is_active")))
    except ConfigError as exc:
        form.add_error("expires_at", exc.message)


class UserConfigAddForm(forms.ModelForm):
    """Step one: the template and owner; the values start from the template's defaults."""

    reason = forms.CharField(label=_("reason"), max_length=500, required=False)

    class Meta:
        model = UserConfig
        fields = ["template", "user", "shop", "key", "display_name", "scope", "expires_at", "is_active"]

    def clean(self):
        cleaned = super().clean()
        _check_expiry(self, cleaned)
        return cleaned


class UserConfigChangeForm(forms.ModelForm):
    """Step two: the values in a form generated from the template's schema; secrets shown masked."""

    values = SchemaValuesField(schema={"type": "object"}, label=_("values"), required=False)
    expected_version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    reason = forms.CharField(label=_("reason"), max_length=500, required=False,
                             help_text=_("Why the change: kept in the history."))

    class Meta:
        model = UserConfig
        fields = ["display_name", "values", "scope", "expires_at", "is_active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        config = self.instance
        schema = dict(config.template.schema)
        self.fields["values"].widget.schema = schema
        self.fields["values"].help_text = _(
            "Generated from template “%(t)s” v%(v)s. A secret is shown masked: leave it as is to keep it."
        ) % {"t": config.template.name, "v": config.template.version}
        self.initial["values"] = selectors.config_masked_values(config=config)
        self.initial.setdefault("expected_version", config.version)

    def full_clean(self):
        super().full_clean()
        if self.is_bound and self._errors and "values" in self.fields:
            self._hide_typed_secrets()

    def _hide_typed_secrets(self) -> None:
        """The refused form is shown again: each secret typed into it shows the stored secret's mask instead.

        (Submitted text that is not even JSON is replaced by the stored values, masked.)
        """
        name, stored = self.add_prefix("values"), self.initial["values"]
        try:
            submitted = json.loads(self.data.get(name) or "")
        except ValueError:
            submitted = None
        if isinstance(submitted, dict):
            for path in self.instance.secret_paths():
                if not schema_utils.has_path(submitted, path):
                    continue
                if schema_utils.has_path(stored, path):
                    schema_utils.set_path(submitted, path, schema_utils.get_path(stored, path))
                else:
                    schema_utils.remove_path(submitted, path)
        else:
            submitted = stored
        data = self.data.copy()
        data[name] = json.dumps(submitted, ensure_ascii=False)
        self.data = data

    def clean(self):
        cleaned = super().clean()
        config = self.instance
        expected = cleaned.get("expected_version") or config.version
        current = UserConfig.objects.filter(pk=config.pk).values_list("version", flat=True).first()
        # Told here, on the form that keeps what was typed, rather than by config_change after it; as there, a
        # stale version matters only when the form changes something.
        if current != expected and set(self.changed_data) & set(UserConfigChangeForm.Meta.fields):
            raise forms.ValidationError(
                _("Someone saved version %(now)s while you were editing version %(you)s. Reload the page.")
                % {"now": current, "you": expected}
            )
        _check_expiry(self, cleaned)
        # Only values the person changed are checked: a config written before its template changed can
        # still be renamed or switched off (save_model sends the values to the service only when changed).
        if "values" in self.changed_data and cleaned.get("values") is not None:
            try:
                config_values.config_values_validate(template=config.template, values=cleaned["values"],
                                                       config=UserConfig.objects.get(pk=config.pk))
            except ConfigError as exc:
                _errors_to_form(self, exc, "values")
        return cleaned


class ConfigTemplateForm(forms.ModelForm):
    class Meta:
        model = ConfigTemplate
        fields = ["code", "name", "category", "description", "schema", "defaults", "is_system", "is_active"]

    def clean(self):
        cleaned = super().clean()
        if "schema" in cleaned and "defaults" in cleaned:
            try:
                schema_utils.check_template_schema(cleaned["schema"], cleaned["defaults"] or {})
            except ConfigError as exc:
                _errors_to_form(self, exc, "schema")
        return cleaned


class SystemConfigForm(forms.ModelForm):
    value_text = forms.CharField(
        label=_("value"), required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Text form of the value: 42, 0.5, true / false, or JSON. For a secret, leave empty to keep it."),
    )
    expected_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = SystemConfig
        fields = ["key", "value_type", "description", "is_public", "is_encrypted"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        config = self.instance
        # Read before cleaning: cleaning copies the submitted choice onto the instance.
        self._stored_encrypted = bool(config.pk and config.is_encrypted)
        if config.pk and "key" in self.fields:  # a read-only view has no form fields
            self.fields["key"].disabled = True
            self.initial["expected_version"] = config.version
            if not config.is_encrypted:
                value = selectors.system_config_masked(config=config)
                self.initial["value_text"] = json.dumps(value, ensure_ascii=False) if config.value_type in (
                    ValueType.JSON,) else config.value

    def _get_validation_exclusions(self):
        exclude = super()._get_validation_exclusions()
        if self.instance.pk:
            # The key cannot change once created (its field is disabled): a key written before the
            # key rule must not make every later edit of its config fail on a field nobody can fix.
            exclude.add("key")
        return exclude

    def clean(self):
        cleaned = super().clean()
        text = cleaned.get("value_text", "")
        keep_secret = self.instance.pk and self.instance.is_encrypted and text == ""
        if keep_secret and "is_encrypted" in cleaned and not cleaned["is_encrypted"]:
            self.add_error("value_text", services.system_secret_needs_new_value())
            return cleaned
        if not keep_secret and cleaned.get("value_type"):
            try:
                config_values.system_value_parse(cleaned["value_type"], text)
            except ConfigError as exc:
                self.add_error("value_text", exc.message)
        return cleaned

    def full_clean(self):
        super().full_clean()
        if not (self.is_bound and self._errors and "value_text" in self.fields):
            return
        ticked = "is_encrypted" in self.fields and self.fields["is_encrypted"].widget.value_from_datadict(
            self.data, self.files, self.add_prefix("is_encrypted"))
        if self._stored_encrypted or ticked:
            # The refused form is shown again: a secret typed into it is not.
            data = self.data.copy()
            data[self.add_prefix("value_text")] = ""
            self.data = data
