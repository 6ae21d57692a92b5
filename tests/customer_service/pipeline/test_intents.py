"""Handoff intents: realistic buyer phrasings per intent, the false-positive policy, the shop's settings."""

import pytest
from django.utils import translation

from customer_service.pipeline.intents import (
    DEFAULT_PHRASES,
    INTENTS,
    HandoffSettings,
    handoff_intents_detect,
)


def intents(text, **kwargs):
    return set(handoff_intents_detect(text, **kwargs).intents)


FOUND = [
    ("refund", "我要退款"),
    ("refund", "退款多久能到账"),
    ("refund", "退款要多久"),
    ("refund", "这个可以退吗"),
    ("refund", "不喜欢能退货吗"),
    ("refund", "申请仅退款"),
    ("refund", "想换个大一码的"),
    ("refund", "能换吗，穿着小"),
    ("refund", "收到杯子是碎了的"),
    ("refund", "少发了一双袜子"),
    ("refund", "发错货了"),
    ("refund", "包装破损了"),
    ("refund", "有质量问题"),
    ("refund", "7天无理由退吗"),
    ("refund", "运费险能赔多少"),
    ("refund", "我已经拒收了"),
    ("refund", "什么时候给我补发"),
    ("refund", "鞋子开胶了还能售后吗"),
    ("refund", "怎么还不退款"),
    ("refund", "为什么不给退"),
    ("refund", "不退款吗？"),
    ("refund", "不能退吗"),
    ("refund", "退貨地址給我"),
    ("refund", "拍了不想要了"),
    ("refund", "不送货我就退了"),
    ("refund", "杯子有破的"),
    ("complaint", "我要投诉"),
    ("complaint", "给你们差评"),
    ("complaint", "打12315投诉你们"),
    ("complaint", "我去消协"),
    ("complaint", "举报你们虚假宣传"),
    ("complaint", "申请平台介入"),
    ("complaint", "找工商局"),
    ("complaint", "这是假货吧"),
    ("complaint", "我要维权"),
    ("complaint", "再这样我报警了"),
    ("order_change", "能改地址吗"),
    ("order_change", "修改一下收货地址"),
    ("order_change", "换个地址发"),
    ("order_change", "地址写错了"),
    ("order_change", "收件人名字写错了"),
    ("order_change", "电话号码填错了"),
    ("order_change", "帮我改下订单"),
    ("order_change", "颜色拍错了"),
    ("order_change", "改成黑色的"),
    ("order_change", "能帮我取消订单吗"),
    ("order_change", "先别发，我出差"),
    ("order_change", "两个订单能合并发吗"),
    ("order_change", "帮我备注送礼物"),
    ("order_change", "晚点发可以吗"),
    ("emotion", "你们就是骗子"),
    ("emotion", "垃圾东西"),
    ("emotion", "气死了"),
    ("emotion", "服务太差了"),
    ("emotion", "黑店"),
    ("emotion", "无语"),
    ("emotion", "太失望了"),
    ("emotion", "坑人啊"),
    ("emotion", "什么破玩意"),
    ("emotion", "到底发不发货！！！"),
    ("emotion", "？？？"),
    ("emotion", "等了五天了还没到"),
    ("emotion", "😡"),
    ("emotion", "你有病吧"),
    ("emotion", "tmd"),
    ("emotion", "什么鬼快递"),
    ("emotion", "等了好几天了"),
    ("media", "[图片]"),
    ("media", "[视频]"),
    ("media", "[语音]"),
    ("media", "[表情]"),
    ("media", "[文件]"),
    ("media", "[商品链接]"),
    ("media", "【图片】"),
    ("media", "[订单卡片]"),
    ("media", "[图片]这个是什么问题"),
    ("media", "https://item.taobao.com/item.htm?id=123"),
    ("media", "【淘宝】复制这条信息￥AbCd1234￥打开手机淘宝"),
    ("media", "https://m.tb.cn/h.5abc"),
    ("human", "转人工"),
    ("human", "人工客服呢"),
    ("human", "你是机器人吗"),
    ("human", "找个真人"),
    ("human", "叫你们老板来"),
    ("human", "别自动回复了"),
]

NONE = [
    "在吗",
    "你好",
    "这款有XL吗",
    "多少钱",
    "几天到",
    "发货地址是哪里",
    "你们从哪里发货",
    "地址是自动填的吗",
    "快递地址可以写公司吗",
    "不退款也行",
    "不用退了，我自己修好了",
    "不想退货，能补偿点吗",
    "不会给差评的放心",
    "每次都不差评，这次也不会",
    "我买的垃圾袋发了吗",
    "垃圾桶有盖子吗",
    "滚筒洗衣机能用吗",
    "这个会不会退色",
    "宝宝退烧贴有吗",
    "补发票可以吗",
    "等一星期也没关系",
    "人工智能音箱有货吗",
    "扫地机器人能拖地吗",
    "老板在吗",
    "老板便宜点",
    "[微笑]",
    "好的谢谢",
    "怎么操作才能领券",
    "面料是什么",
    "明天能到北京吗",
    "发什么快递",
    "可以开发票吗",
    "有优惠吗？",
]


@pytest.mark.parametrize(("intent", "text"), FOUND)
def test_each_intent_is_found_in_realistic_phrasings(intent, text):
    assert intent in intents(text)


@pytest.mark.parametrize("text", NONE)
def test_ordinary_questions_and_declined_intents_stay_with_the_bot(text):
    assert handoff_intents_detect(text).matches == ()


def test_every_intent_has_shipped_phrases_and_is_exercised():
    assert set(DEFAULT_PHRASES) == set(INTENTS)
    assert {intent for intent, _ in FOUND} == set(INTENTS)


def test_a_match_names_the_phrase_and_the_span_of_the_original_text():
    text = "亲，我想 修改一下 收货地址"
    match = handoff_intents_detect(text).first("order_change")
    assert match.phrase == "改*地址"
    assert text[match.start:match.end] == match.matched == "改一下 收货地址"


def test_the_most_urgent_intent_comes_first():
    result = handoff_intents_detect("[图片] 发错了，我要投诉！！！")
    assert result.intents == ("complaint", "emotion", "refund", "media")
    assert result.intent == "complaint" and result.handoff


def test_nothing_found_is_no_handoff():
    result = handoff_intents_detect("这款有XL吗")
    assert result.intent is None and not result.handoff and result.intents == ()


def test_full_width_and_traditional_text_is_read_alike():
    assert intents("我要投訴") == {"complaint"}
    assert intents("退款要多久？？？") == {"refund", "emotion"}


def test_labels_are_translated():
    with translation.override("zh-hans"):
        assert handoff_intents_detect("我要投诉").matches[0].label == "投诉"
    with translation.override("en"):
        assert handoff_intents_detect("我要投诉").matches[0].label == "Complaint"


def test_a_shop_adds_a_phrase_to_an_intent():
    settings = HandoffSettings(added=(("refund", "价保"), ("human", "找*小王")))
    assert intents("能价保吗") == set()
    assert intents("能价保吗", settings=settings) == {"refund"}
    assert intents("找一下小王", settings=settings) == {"human"}


def test_a_shop_removes_a_shipped_phrase():
    settings = HandoffSettings(removed=frozenset({"运费险"}))
    assert intents("运费险怎么用") == {"refund"}
    assert intents("运费险怎么用", settings=settings) == set()


def test_a_shop_switches_an_intent_off():
    settings = HandoffSettings(disabled_intents=frozenset({"media"}))
    assert intents("[图片]", settings=settings) == set()
    assert intents("[图片] 我要退款", settings=settings) == {"refund"}


def test_a_shop_exempts_a_phrase():
    settings = HandoffSettings(exempt_phrases=("垃圾分类袋",))
    assert intents("垃圾分类袋有几个颜色") == set()  # shipped exemption 垃圾分类
    assert intents("退换货地址在哪") == {"refund"}
    assert intents("退换货地址在哪", settings=HandoffSettings(exempt_phrases=("退换货地址",))) == set()
    assert intents("什么垃圾", settings=settings) == {"emotion"}


def test_settings_read_from_the_shop_settings_dict():
    settings = HandoffSettings.from_shop_settings({"handoff": {
        "disabled_intents": ["media"],
        "phrases": {"refund": ["价保"], "complaint": [], "human": ["找*小王", "*"]},
        "removed_phrases": ["运费险"],
        "exempt_phrases": ["退换货地址"],
    }})
    assert settings == HandoffSettings(
        disabled_intents=frozenset({"media"}), added=(("human", "找*小王"), ("refund", "价保")),
        removed=frozenset({"运费险"}), exempt_phrases=("退换货地址",),
    )
    assert HandoffSettings.from_shop_settings({}) == HandoffSettings()
