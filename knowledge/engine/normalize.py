"""Buyer-text normalisation (pure python, no corpus statistics)."""
import re
import unicodedata

# leading greetings / fillers that carry no intent
_GREET = re.compile(
    r"^(?:(?:亲爱的|亲亲|亲|你好呀|你好啊|你好|您好|哈喽|哈罗|hello|hi|嗨|在吗|在不在|在么|在嘛|"
    r"老板|掌柜的?|客服|小姐姐|小哥哥|请问一下|请问下|请问|问一下|问下|我想问一下|我想问下|我想问|想问一下|想问下|想问|打扰了?|麻烦问下|麻烦)"
    r"[\s,，。.!！?？~～、:：]*)+")
_TRAIL = re.compile(r"(?:[\s,，。.!！?？~～、…]|谢谢|多谢|感谢|亲亲|亲)+$")
# emoji & pictographs, variation selectors, zero-width chars
_EMOJI = re.compile(
    "[\U0001F000-\U0001FAFF\U00002600-\U000027BF\U0001F900-\U0001F9FF\U00002B00-\U00002BFF"
    "\uFE0F\uFE0E\u200B-\u200F\u2060\U000E0000-\U000E007F]")
_BRACKET_EMO = re.compile(r"\[[^\[\]]{1,6}\]")   # Qianniu/Taobao emoticons like [微笑]
_REPEAT_PUNCT = re.compile(r"([,，。.!！?？~～、…\-])\1+")
_SPACES = re.compile(r"\s+")
_MASK = re.compile(r"\*{2,}")


def normalize_buyer_text(text: str, strip_greetings: bool = True) -> str:
    """NFKC (full->half width), lowercase, drop emoji/emoticons, collapse repeated
    punctuation/whitespace, strip leading greetings (亲/你好/在吗/请问...) and
    trailing punctuation / thanks. Never returns an empty string for non-empty
    input that had content (falls back to the un-stripped form)."""
    if not text:
        return ""
    t = unicodedata.normalize("NFKC", text).lower()
    t = _BRACKET_EMO.sub(" ", t)
    t = _EMOJI.sub(" ", t)
    t = _MASK.sub("*", t)           # ATEC number masks *** -> *
    t = _REPEAT_PUNCT.sub(r"\1", t)
    t = _SPACES.sub(" ", t).strip()
    base = t
    if strip_greetings:
        t = _GREET.sub("", t)
        t = _TRAIL.sub("", t).strip()
        if not t:
            t = _TRAIL.sub("", base).strip() or base
    return t


# Small, generic buyer-chat lexicon: common pinyin-IME homophone typos and
# colloquial forms seen in Taobao/Qianniu chats, mapped to the standard words
# FAQ authors use.  Applied to both buyer text and FAQ text (idempotent).
BUYER_VARIANTS = [
    ("包油", "包邮"), ("包由", "包邮"), ("发火", "发货"), ("顺风快递", "顺丰快递"), ("顺风", "顺丰"),
    ("蓝压", "蓝牙"), ("过名", "过敏"), ("发漂", "发票"), ("快第", "快递"), ("退欵", "退款"),
    ("花被", "花呗"), ("借被", "借呗"), ("码数", "尺码"), ("保真", "正品"),
    ("神马", "什么"), ("啥子", "什么"), ("啥", "什么"), ("肿么", "怎么"), ("咋样", "怎么样"), ("咋", "怎么"),
    ("多钱", "多少钱"), ("木有", "没有"), ("没得", "没有"), ("宝贝", "商品"), ("拍下", "下单"),
    ("兜兜", "口袋"), ("有兜", "有口袋"),
]
_VAR_RE = re.compile("|".join(re.escape(a) for a, _ in sorted(BUYER_VARIANTS, key=lambda x: -len(x[0]))))
_VAR_MAP = dict(BUYER_VARIANTS)


def apply_variants(text: str) -> str:
    return _VAR_RE.sub(lambda m: _VAR_MAP[m.group(0)], text)


def normalize_text(text: str, variants: bool = True, strip_greetings: bool = True) -> str:
    """Full pipeline used by the engine for both queries and FAQ phrasings."""
    t = normalize_buyer_text(text, strip_greetings=strip_greetings)
    return apply_variants(t) if variants else t


# Pure small talk: greetings, thanks, acknowledgements, goodbyes.  A message made
# only of these carries no FAQ intent and must never be auto-answered.
_SMALLTALK_TOKENS = re.compile(
    r"(?:亲爱的|亲亲|亲|你好|您好|哈喽|哈罗|hello|hi|嗨|在吗|在不在|在么|在嘛|在的|在|有人吗|有人在吗|有人|"
    r"早上好|上午好|中午好|下午好|晚上好|早安|晚安|早|老板|掌柜的?|客服|小姐姐|小哥哥|美女|帅哥|"
    r"谢谢你?|谢啦|谢了|多谢|感谢|辛苦了?|麻烦了|好的|好滴|好哒|好嘞|好吧|好|行吧|行|可以|收到|知道了|明白了?|了解了?|懂了|"
    r"嗯嗯|嗯|恩恩|恩|哦哦|哦|噢|喔|啊|呀|呢|哈哈+|呵呵|嘿嘿|ok|okay|拜拜|再见|88|bye|"
    r"[\s,，。.!！?？~～、…:：;；]|[0-9]{0,0})+")


def is_smalltalk(text: str) -> bool:
    t = normalize_buyer_text(text, strip_greetings=False)
    return (bool(t) and _SMALLTALK_TOKENS.fullmatch(t) is not None) or t == ""
