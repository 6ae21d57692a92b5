"""Handoff intents: buyer messages that go to a person whatever the knowledge base says.

:func:`handoff_intents_detect` finds them in a buyer's message (or a burst of
lines joined into one question). The intents, their codes and shipped phrases:

============== ==========================================================================
code           what
============== ==========================================================================
complaint      complaints and threats: 投诉, 差评, 12315, 举报, 消协, 工商, 维权, 介入, 假货…
emotion        strong emotion: 骗子, 垃圾, 气死, 太差, 黑店, 无语, 失望, 坑人, insults, !!! / ???,
               angry emoji
human          asking for a person: 转人工, 人工客服, 真人, 机器人, 找你们老板…
refund         refunds, returns, exchanges and what leads to them: 退款, 退货, 换货, 仅退款,
               退款要多久, 可以退吗, 七天无理由, 运费险, 拒收, 补发, 少发 / 发错, 破损, 质量问题…
order_change   address or order changes: 改地址, 修改收货地址, 换个地址, 地址写错, 改订单,
               改颜色 / 尺码, 拍错, 取消订单, 先别发, 合并发货, 帮我备注…
media          what a rule cannot read: Qianniu's placeholders for media and cards and
               product links (see below)
============== ==========================================================================

Media placeholders. Qianniu, like the other Chinese chat clients, shows a
non-text message as a bracketed word in transcripts and conversation
previews; the desktop reader and API clients are expected to pass them on
as such. Recognised, with ``[…]`` or ``【…】``: 图片, 照片, 视频, 小视频, 语音,
音频, 表情, 动画表情, 表情包, 文件, 链接, 商品, 宝贝, 商品链接, 商品卡片, 宝贝链接,
订单, 订单卡片, 卡片, 位置, 名片, 小程序, 红包, 转账. Product links and shares
count too: ``item.taobao.com``, ``detail.tmall.com``, ``m.tb.cn`` and the
淘口令 share text (复制这条信息 / 打开手机淘宝). Named emoticons
(``[微笑]``) are words, not media, and do not count.

Phrases are matched on normalised text (see :mod:`.text`; ``*`` stands for at
most four characters of one clause). False-positive policy, decided and tested:

- A question about a refund or a return is still a refund: "退款要多久",
  "可以退吗", "七天无理由吗" go to a person.
- A refund or a complaint the buyer *declines* is not one: "不退款也行",
  "不用退了", "不会给差评的". A refusal they complain about still is:
  "怎么还不退款", "为什么不给退", "不退款吗？".
- 地址 alone is no address change: "发货地址是哪里", "你们从哪里发货",
  "地址是自动填的吗" are questions about the shop; "退货地址发我" is a refund.
- Words that merely contain a trigger are exempt: 垃圾袋 / 垃圾桶, 滚筒 (no
  bare 滚 is a trigger), 退色 / 退烧, 一星期, 补发票, 工商银行.

A shop adds phrases per intent, removes shipped phrases, adds exempt
phrases and switches whole intents off (:class:`HandoffSettings`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy

from .text import Normalized, find_phrases, normalize, phrases_regex, usable_phrases

COMPLAINT = "complaint"
EMOTION = "emotion"
HUMAN = "human"
REFUND = "refund"
ORDER_CHANGE = "order_change"
MEDIA = "media"

#: The intents, most urgent first: the order in which :attr:`HandoffResult.intent` picks one.
INTENTS: tuple[str, ...] = (COMPLAINT, EMOTION, HUMAN, REFUND, ORDER_CHANGE, MEDIA)

INTENT_LABELS: dict[str, Promise] = {
    COMPLAINT: gettext_lazy("Complaint"),
    EMOTION: gettext_lazy("Strong emotion"),
    HUMAN: gettext_lazy("Asks for a person"),
    REFUND: gettext_lazy("Refund, return or exchange"),
    ORDER_CHANGE: gettext_lazy("Address or order change"),
    MEDIA: gettext_lazy("Image, media or product card"),
}

_MEDIA_WORDS = (
    "图片", "照片", "视频", "小视频", "语音", "音频", "表情", "动画表情", "表情包", "文件", "链接", "商品", "宝贝",
    "商品链接", "商品卡片", "宝贝链接", "订单", "订单卡片", "卡片", "位置", "名片", "小程序", "红包", "转账",
)

DEFAULT_PHRASES: dict[str, tuple[str, ...]] = {
    REFUND: (
        "退款", "退货", "退钱", "退换", "换货", "调换", "仅退款", "退回", "退掉", "退了吧", "退吧", "要退", "想退",
        "能退", "可以退", "申请退", "怎么退", "退不退", "给退", "给我退", "什么时候退", "退给我", "包退", "还不退",
        "怎么不退", "为什么不退", "不能退", "不让退", "七天无理由", "7天无理由", "无理由", "运费险", "退运费", "拒收",
        "寄回", "退了", "我退", "补发", "少发", "漏发", "发错", "错发", "寄错", "缺件", "少了一个", "少了个", "破损",
        "坏了", "坏的", "碎了", "裂了", "破了", "破的", "质量问题", "二手", "使用痕迹", "瑕疵", "不想要了", "不要了",
        "买错了", "换*码", "换*颜色", "换*尺寸", "换*型号", "换*款", "能换吗", "可以换吗", "能不能换", "换一个",
        "售后",
    ),
    COMPLAINT: (
        "投诉", "差评", "中评", "12315", "打315", "找315", "去315", "举报", "消协", "消费者协会", "工商", "市场监管",
        "监管局", "曝光", "维权", "起诉", "律师", "法院", "打官司", "报警", "介入", "找平台", "假货", "欺诈",
        "虚假宣传", "黑猫",
    ),
    ORDER_CHANGE: (
        "改地址", "改*地址", "换*地址", "地址*错", "错地址", "地址不对", "新地址", "改*收货", "改*收件", "收件人*错",
        "收货人*错", "名字*错", "电话*错", "手机*错", "号码*错", "改*电话", "改*手机", "改*号码", "改*订单",
        "改*颜色", "改*尺码", "改*码", "改*规格", "改*型号", "改*数量", "改*款", "改成", "改为", "拍错", "买错",
        "下错", "选错", "取消订单", "取消*订单", "先别发", "别发货", "不要发", "暂停发货", "延迟发货", "晚点发",
        "推迟发货", "拦截", "合并*发", "一起发", "合并订单", "帮我备注", "帮忙备注", "麻烦备注", "备注一下", "备注下",
        "给我备注", "能备注", "可以备注",
    ),
    EMOTION: (
        "骗子", "骗人", "骗钱", "骗我", "被骗", "欺骗", "诈骗", "受骗", "上当", "垃圾", "气死", "烦死", "太差",
        "真差", "质量差", "差劲", "太烂", "坑人", "坑爹", "被坑", "坑钱", "黑店", "无良", "奸商", "恶心", "滚蛋",
        "滚开", "给我滚", "滚吧", "傻逼", "傻b", "sb", "煞笔", "傻x", "妈的", "他妈", "tmd", "nmd", "卧槽", "我靠",
        "操你", "草泥马", "去死", "什么破", "破东西", "破玩意", "智障", "有病吧", "有病啊", "你有病", "脑残",
        "神经病", "无语", "失望", "后悔", "火大", "生气", "愤怒", "崩溃", "搞什么", "什么玩意", "太过分", "过分了",
        "离谱", "忽悠", "耍我", "糊弄", "敷衍", "不要脸", "等了*天", "等了*星期", "等了*周", "都几天了", "好几天了",
        "什么鬼", "心累", "逗我", "要命", "到底", "说好的", "一直没人", "没人理", "没人回", "不回消息", "!!!", "???",
        "?!?", "!?!", "😡", "😠", "🤬", "💢", "👎", "😤", "[怒]", "[发怒]", "[抓狂]", "[鄙视]",
    ),
    MEDIA: (
        *(f"[{word}]" for word in _MEDIA_WORDS), *(f"【{word}】" for word in _MEDIA_WORDS),
        "item.taobao.com", "detail.tmall.com", "m.tb.cn", "淘口令", "复制这条信息", "打开手机淘宝", "打开淘宝",
    ),
    HUMAN: (
        "转人工", "人工客服", "人工服务", "人工", "真人", "活人", "机器人", "自动回复", "找*老板", "叫*老板",
        "老板出来", "找*店长", "叫*店长", "找*负责人", "找*主管", "叫*主管", "找*经理", "叫*经理", "客服呢",
    ),
}

#: Phrases inside which a trigger does not count (a match overlapping one is dropped, unless it contains it).
DEFAULT_EXEMPT: dict[str, tuple[str, ...]] = {
    REFUND: (
        "退色", "退烧", "退热", "退出", "退休", "减退", "消退", "后退", "倒退", "退步", "退订", "退群", "退役",
        "退火", "退伍", "补发票", "换地址", "换个地址", "换一个地址", "换一下地址", "换下地址", "换收货",
        "换个收货", "换*快递", "发错地址", "售后服务怎么样",
    ),
    COMPLAINT: ("工商银行", "律师函"),
    ORDER_CHANGE: ("改成功", "改善", "改进", "改良", "改版", "改款", "退货地址", "换货地址", "退换货地址", "寄回地址",
                   "退回地址"),
    EMOTION: (
        "垃圾袋", "垃圾桶", "垃圾篓", "垃圾分类", "垃圾箱", "垃圾车", "垃圾处理", "垃圾清理", "垃圾食品", "一星期",
    ),
    MEDIA: (),
    HUMAN: ("人工费", "人工智能", "人工成本", "人工草", "人工草坪", "人工湖", "扫地机器人", "机器人玩具",
            "机器人模型", "机器人拼装", "积木机器人", "手工"),
}

# A buyer declining a refund or a complaint ("不退款也行", "不会给差评") — unless the negation is itself
# part of a complaint about a refusal ("怎么还不退款") or a question ("不退款吗？").
_DECLINED = {
    REFUND: re.compile(r"(?:不用|不需要|不要|不想|无需|不必|没必要|不打算|不申请|不)$"),
    COMPLAINT: re.compile(r"(?:不会给|不会打|不会去|不会|不给|不打|不想|不要|没有给|没给|没打|不是要|不去|不)$"),
}
_DECLINE_OVERRIDDEN = re.compile(r"(?:还|怎么|为什么|咋|凭什么|到底|就是)(?:不|不给|不会)?$")
_QUESTION_NEXT = re.compile(r"[^，,。]{0,2}?(?:吗|么|呢|\?)")


@dataclass(frozen=True)
class HandoffSettings:
    """A shop's handoff settings, on top of the shipped phrases.

    ``added``: ``(intent, phrase)`` pairs; ``removed``: shipped phrases that no
    longer count (for any intent); ``exempt_phrases``: phrases inside which no
    trigger counts; ``disabled_intents``: intents switched off entirely.
    """

    disabled_intents: frozenset[str] = frozenset()
    added: tuple[tuple[str, str], ...] = ()
    removed: frozenset[str] = frozenset()
    exempt_phrases: tuple[str, ...] = ()

    @classmethod
    def from_shop_settings(cls, settings: Mapping) -> HandoffSettings:
        """Read from ``configs.selectors.shop_settings_get(shop=…)``; a missing key keeps its default."""
        handoff = settings.get("handoff") or {}
        added = handoff.get("phrases") or {}
        return cls(
            disabled_intents=frozenset(handoff.get("disabled_intents") or ()),
            added=tuple((intent, phrase) for intent in INTENTS for phrase in usable_phrases(added.get(intent))),
            removed=frozenset(handoff.get("removed_phrases") or ()),
            exempt_phrases=usable_phrases(handoff.get("exempt_phrases")),
        )


DEFAULT_HANDOFF = HandoffSettings()


@dataclass(frozen=True)
class IntentMatch:
    """One handoff intent found: its code, its label (translated), the phrase that matched and where."""

    intent: str
    label: str
    phrase: str
    start: int
    end: int
    matched: str


@dataclass(frozen=True)
class HandoffResult:
    """What :func:`handoff_intents_detect` found, in text order."""

    matches: tuple[IntentMatch, ...] = ()

    @property
    def handoff(self) -> bool:
        return bool(self.matches)

    @property
    def intent(self) -> str | None:
        """The most urgent intent found (see :data:`INTENTS`), or None."""
        found = {m.intent for m in self.matches}
        return next((intent for intent in INTENTS if intent in found), None)

    @property
    def intents(self) -> tuple[str, ...]:
        """Every intent found, most urgent first."""
        found = {m.intent for m in self.matches}
        return tuple(intent for intent in INTENTS if intent in found)

    def first(self, intent: str) -> IntentMatch | None:
        return next((m for m in self.matches if m.intent == intent), None)


@dataclass(frozen=True)
class _CompiledIntent:
    intent: str
    phrases: tuple[str, ...]
    pattern: re.Pattern | None
    exempt: re.Pattern | None


@functools.lru_cache(maxsize=256)
def _compiled(settings: HandoffSettings) -> tuple[_CompiledIntent, ...]:
    compiled = []
    for intent in INTENTS:
        if intent in settings.disabled_intents:
            continue
        phrases = [p for p in DEFAULT_PHRASES[intent] if p not in settings.removed]
        phrases += [p for i, p in settings.added if i == intent and p not in phrases]
        exempt = (*DEFAULT_EXEMPT[intent], *settings.exempt_phrases)
        compiled.append(_CompiledIntent(
            intent=intent, phrases=tuple(phrases),
            pattern=phrases_regex(tuple(phrases), tolerant=False),
            exempt=phrases_regex(exempt, tolerant=False),
        ))
    return tuple(compiled)


def _declined(intent: str, text: str, start: int, end: int) -> bool:
    negation = _DECLINED.get(intent)
    if negation is None:
        return False
    before = text[max(0, start - 8):start]
    m = negation.search(before)
    if m is None:
        return False
    return not (_DECLINE_OVERRIDDEN.search(before[:m.start()]) or _QUESTION_NEXT.match(text, end))


def _exempt(span: tuple[int, int], exempt_spans: list[tuple[int, int]]) -> bool:
    # Dropped when an exempt phrase overlaps the match without lying inside it: "垃圾袋" exempts
    # "垃圾", but "还不退款" (a trigger) keeps its own "不退款".
    start, end = span
    return any(s < end and start < e and not (start <= s and e <= end) for s, e in exempt_spans)


def _detect(norm: Normalized, compiled: _CompiledIntent) -> list[IntentMatch]:
    exempt_spans = [(s, e) for _, s, e in find_phrases(norm, compiled.exempt)]
    found = []
    for i, start, end in find_phrases(norm, compiled.pattern):
        if _exempt((start, end), exempt_spans) or _declined(compiled.intent, norm.text, start, end):
            continue
        s, e = norm.span(start, end)
        found.append(IntentMatch(intent=compiled.intent, label=str(INTENT_LABELS[compiled.intent]),
                                 phrase=compiled.phrases[i], start=s, end=e, matched=norm.original[s:e]))
    return found


def handoff_intents_detect(text: str, *, settings: HandoffSettings = DEFAULT_HANDOFF) -> HandoffResult:
    """Find the handoff intents in a buyer's ``text``.

    ``settings``: the shop's (:meth:`HandoffSettings.from_shop_settings`).
    Returns every match in text order; :attr:`HandoffResult.intent` is the
    most urgent. Pure: no database, no network.
    """
    norm = normalize(text)
    matches = [m for compiled in _compiled(settings) for m in _detect(norm, compiled)]
    matches.sort(key=lambda m: (m.start, m.end, INTENTS.index(m.intent)))
    return HandoffResult(matches=tuple(matches))
