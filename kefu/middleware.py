from django.conf import settings
from django.middleware.locale import LocaleMiddleware
from django.utils import translation


class KefuLocaleMiddleware(LocaleMiddleware):
    """The admin speaks Simplified Chinese unless the person chose another language.

    Browsers send Accept-Language from the operating system's locale, and many
    sellers' PCs are set to English; the admin follows only the language picked
    in its own switcher (the language cookie). API clients, which choose
    deliberately, may use Accept-Language.
    """

    def process_request(self, request):
        if request.path.startswith("/api/"):
            return super().process_request(request)
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME) or settings.LANGUAGE_CODE
        try:
            language = translation.get_supported_language_variant(chosen)
        except LookupError:
            language = settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()
