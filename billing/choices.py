from django.db import models
from django.utils.translation import gettext_lazy as _


class ProviderCode(models.TextChoices):
    OPENAI = "openai", "OpenAI"
    DEEPSEEK = "deepseek", "DeepSeek"
    MOONSHOT = "moonshot", _("Moonshot (Kimi)")
    DASHSCOPE = "dashscope", _("DashScope (Qwen)")
    DOUBAO = "doubao", _("Doubao (Volcengine Ark)")
    GEMINI = "gemini", "Google Gemini"
    OPENROUTER = "openrouter", "OpenRouter"
    ANTHROPIC = "anthropic", "Anthropic"
    ERNIE = "ernie", _("Ernie (Baidu Qianfan)")
    CUSTOM = "custom", _("Custom OpenAI-compatible")


class ApiStyle(models.TextChoices):
    OPENAI = "openai", _("OpenAI-compatible")
    ANTHROPIC = "anthropic", _("Anthropic messages")


class ModelType(models.TextChoices):
    TEXT = "text", _("Text")
    EMBEDDING = "embedding", _("Embedding")
    IMAGE = "image", _("Image")
    AUDIO = "audio", _("Audio")
    VIDEO = "video", _("Video")


class Capability(models.TextChoices):
    TEXT = "text", _("Text")
    EMBEDDING = "embedding", _("Embedding")
    IMAGE = "image", _("Image")


class PricingType(models.TextChoices):
    INPUT_1K = "input_1k", _("Per 1K input tokens")
    OUTPUT_1K = "output_1k", _("Per 1K output tokens")
    IMAGE = "image", _("Per image")
    CALL = "call", _("Per call")


class Currency(models.TextChoices):
    CNY = "CNY", _("Chinese yuan")
    USD = "USD", _("US dollar")


class UsageType(models.TextChoices):
    CHAT = "chat", _("Chat")
    EMBEDDING = "embedding", _("Embedding")
    OCR = "ocr", _("OCR")
    IMAGE = "image", _("Image")


class UsageStatus(models.TextChoices):
    SUCCESS = "success", _("Success")
    ERROR = "error", _("Error")


class BudgetScope(models.TextChoices):
    SHOP = "shop", _("Shop (monthly, CNY)")
    CONFIG = "config", _("Model config (monthly, CNY)")


class CounterScope(models.TextChoices):
    USER_DAY = "user_day", _("User requests per day")
    SHOP_MONTH = "shop_month", _("Shop spend per month")
    CONFIG_MONTH = "config_month", _("Config spend per month")


class ErrorCode(models.TextChoices):
    """Why an attempt failed; stable strings stored on the usage record."""

    TIMEOUT = "timeout", _("Timed out")
    CONNECTION = "connection", _("Connection failed")
    SERVER_ERROR = "server_error", _("Provider 5xx")
    RATE_LIMITED = "rate_limited", _("Rate limited (429)")
    QUOTA_EXHAUSTED = "quota_exhausted", _("Quota exhausted / insufficient balance")
    AUTHENTICATION = "authentication", _("Key refused")
    BAD_REQUEST = "bad_request", _("Request refused (4xx)")
    BAD_RESPONSE = "bad_response", _("Malformed answer")
    NO_KEY = "no_key", _("No API key set")
    BAD_CONFIG = "bad_config", _("Config cannot be sent (key or header)")
    ERROR = "error", _("Other error")
