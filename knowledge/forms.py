from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from customer_service.shops.models import Shop

from .models import KnowledgeItem
from .transfer import FORMATS


class KnowledgeItemForm(forms.ModelForm):
    """Keywords are typed as text separated by "|" (a JSON list is unfriendly in a form)."""

    keywords = forms.CharField(label=_("keywords"), required=False,
                               help_text=_('Separate keywords with "|", e.g. 包邮|快递|运费.'))

    class Meta:
        model = KnowledgeItem
        fields = ["shop", "question", "answer", "category", "keywords", "is_active", "external_id"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance and self.instance.keywords:
            self.initial["keywords"] = "|".join(self.instance.keywords)

    def clean_keywords(self):
        from .exceptions import KnowledgeError
        from .services import clean_keywords

        # The service refuses with its own exception; a form shows it under the field, not as a 500.
        try:
            return clean_keywords(self.cleaned_data.get("keywords") or "")
        except KnowledgeError as exc:
            detail = exc.detail.get("keywords") if isinstance(exc.detail, dict) else None
            raise ValidationError(detail or exc.message) from exc


class TryQueryForm(forms.Form):
    shop = forms.ModelChoiceField(queryset=Shop.objects.none(), label=_("shop"))
    q = forms.CharField(label=_("buyer message"), max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
    k = forms.IntegerField(label=_("hits"), min_value=1, max_value=50, initial=5)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["shop"].queryset = Shop.objects.for_user(user)


class ImportForm(forms.Form):
    shop = forms.ModelChoiceField(queryset=Shop.objects.none(), label=_("shop"), required=False,
                                  help_text=_("Empty: items shared by every shop (superadmins only)."))
    file = forms.FileField(label=_("file"), help_text=_("CSV, XLSX or JSON Lines; columns id, question, answer, "
                                                        "category, keywords, similar_questions, active."))
    format = forms.ChoiceField(label=_("format"), required=False,
                               choices=[("", _("from the file name"))] + [(f, f) for f in FORMATS])
    skip_invalid = forms.BooleanField(label=_("load the good rows and skip the bad ones"), required=False)
    on_duplicate = forms.ChoiceField(label=_("an item that already exists"), initial="error", choices=[
        ("error", _("is a problem, reported by its row")), ("skip", _("is left as it is: the row is skipped")),
        ("update", _("is updated from the file")),
    ])

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["shop"].queryset = Shop.objects.manageable_by(user)

    def clean(self):
        data = super().clean()
        if not data.get("shop") and not self.user.is_superadmin:
            raise forms.ValidationError(_("Choose a shop: only superadmins import shared items."))
        return data
