"""The catalogue `manage.py billing_seed` loads: providers, common models, public list prices.

Prices are per 1K tokens, in the currency stated, as published by each vendor
on the date in SEED_PRICES_EFFECTIVE (check and edit them in the admin; a new
price gets a new row with its own effective date, history stays).
"""

from decimal import Decimal as D

SEED_PRICES_EFFECTIVE = "2025-10-01T00:00:00+08:00"
# The note of every seed price: how billing_seed tells its own prices from the ones someone set.
SEED_PRICE_NOTE = "seed: public list price"

# code, name, api style, default base URL, website
PROVIDERS = [
    ("openai", "OpenAI", "openai", "https://api.openai.com/v1", "https://platform.openai.com"),
    ("deepseek", "DeepSeek", "openai", "https://api.deepseek.com/v1", "https://platform.deepseek.com"),
    ("moonshot", "Moonshot (Kimi)", "openai", "https://api.moonshot.cn/v1", "https://platform.moonshot.cn"),
    ("dashscope", "DashScope (Qwen)", "openai", "https://dashscope.aliyuncs.com/compatible-mode/v1",
     "https://bailian.console.aliyun.com"),
    ("doubao", "Doubao (Volcengine Ark)", "openai", "https://ark.cn-beijing.volces.com/api/v3",
     "https://console.volcengine.com/ark"),
    ("gemini", "Google Gemini", "openai", "https://generativelanguage.googleapis.com/v1beta/openai/",
     "https://ai.google.dev"),
    ("openrouter", "OpenRouter", "openai", "https://openrouter.ai/api/v1", "https://openrouter.ai"),
    ("anthropic", "Anthropic", "anthropic", "https://api.anthropic.com", "https://console.anthropic.com"),
    ("ernie", "Ernie (Baidu Qianfan)", "openai", "https://qianfan.baidubce.com/v2", "https://console.bce.baidu.com/qianfan"),
    ("custom", "Custom OpenAI-compatible", "openai", "", ""),
]

# provider, model code, display name, type, currency, input / 1K, output / 1K
MODELS = [
    ("openai", "gpt-4o-mini", "GPT-4o mini", "text", "USD", D("0.00015"), D("0.0006")),
    ("openai", "gpt-4o", "GPT-4o", "text", "USD", D("0.0025"), D("0.01")),
    ("openai", "gpt-4.1-mini", "GPT-4.1 mini", "text", "USD", D("0.0004"), D("0.0016")),
    ("openai", "text-embedding-3-small", "text-embedding-3-small", "embedding", "USD", D("0.00002"), None),
    ("deepseek", "deepseek-chat", "DeepSeek-V3.2 (chat)", "text", "CNY", D("0.002"), D("0.003")),
    ("deepseek", "deepseek-reasoner", "DeepSeek-V3.2 (reasoner)", "text", "CNY", D("0.002"), D("0.003")),
    ("moonshot", "moonshot-v1-8k", "Moonshot v1 8K", "text", "CNY", D("0.002"), D("0.010")),
    ("moonshot", "kimi-k2-0905-preview", "Kimi K2", "text", "CNY", D("0.004"), D("0.016")),
    ("dashscope", "qwen-turbo", "Qwen Turbo", "text", "CNY", D("0.0003"), D("0.0006")),
    ("dashscope", "qwen-plus", "Qwen Plus", "text", "CNY", D("0.0008"), D("0.002")),
    ("dashscope", "qwen-max", "Qwen Max", "text", "CNY", D("0.0024"), D("0.0096")),
    ("dashscope", "text-embedding-v3", "Qwen text-embedding-v3", "embedding", "CNY", D("0.0005"), None),
    ("doubao", "doubao-1-5-pro-32k-250115", "Doubao 1.5 Pro 32K", "text", "CNY", D("0.0008"), D("0.002")),
    ("doubao", "doubao-1-5-lite-32k-250115", "Doubao 1.5 Lite 32K", "text", "CNY", D("0.0003"), D("0.0006")),
    ("doubao", "doubao-embedding-text-240715", "Doubao embedding", "embedding", "CNY", D("0.0005"), None),
    ("gemini", "gemini-2.5-flash", "Gemini 2.5 Flash", "text", "USD", D("0.0003"), D("0.0025")),
    ("gemini", "gemini-2.5-flash-lite", "Gemini 2.5 Flash-Lite", "text", "USD", D("0.0001"), D("0.0004")),
    ("gemini", "gemini-embedding-001", "Gemini embedding", "embedding", "USD", D("0.00015"), None),
    ("openrouter", "openai/gpt-4o-mini", "GPT-4o mini via OpenRouter", "text", "USD", D("0.00015"), D("0.0006")),
    ("openrouter", "deepseek/deepseek-chat", "DeepSeek V3 via OpenRouter", "text", "USD", D("0.0003"), D("0.00085")),
    ("anthropic", "claude-haiku-4-5", "Claude Haiku 4.5", "text", "USD", D("0.001"), D("0.005")),
    ("anthropic", "claude-sonnet-4-5", "Claude Sonnet 4.5", "text", "USD", D("0.003"), D("0.015")),
    ("anthropic", "claude-3-5-haiku-latest", "Claude 3.5 Haiku", "text", "USD", D("0.0008"), D("0.004")),
    ("ernie", "ernie-4.5-turbo-128k", "ERNIE 4.5 Turbo 128K", "text", "CNY", D("0.0008"), D("0.0032")),
    ("ernie", "ernie-speed-128k", "ERNIE Speed 128K", "text", "CNY", D("0"), D("0")),
]
