"""The pre-send safety check: every rule on realistic phrasings, its false-positive policy, the shop's settings."""

import pytest
from django.utils import translation

from customer_service.pipeline.safety import (
    DEFAULT_RULE_CODES,
    SAFETY_RULES,
    SafetySettings,
    safety_check,
)


def codes(text, **kwargs):
    return set(safety_check(text, **kwargs).codes)


# (rule code, text) — each text must hit the code.
CAUGHT = [
    ("contact.wechat", "亲，加我微信发您实拍"),
    ("contact.wechat", "加下威信 shop666 给您优惠"),
    ("contact.wechat", "V信：abc_123"),
    ("contact.wechat", "v❤：abc_123"),
    ("contact.wechat", "加我 VX 详聊"),
    ("contact.wechat", "ｗｘ号 xyz888"),
    ("contact.wechat", "加wei xin吧"),
    ("contact.wechat", "我的wechat是 kefu2024"),
    ("contact.wechat", "微*信同号"),
    ("contact.wechat", "微\u200b信搜索 abc"),
    ("contact.wechat", "加绿泡泡聊"),
    ("contact.wechat", "v . x：abc"),
    ("contact.wechat", "有事加V：shop88"),
    ("contact.wechat", "+v 发你图"),
    ("contact.wechat", "微 信"),
    ("contact.wechat", "嶶信联系"),
    ("contact.wechat", "加我微信號"),
    ("contact.qq", "加我QQ 123456789"),
    ("contact.qq", "扣扣：123456"),
    ("contact.qq", "q.q号发你了"),
    ("contact.qq", "企鹅号 887766"),
    ("contact.phone", "有事打 13812345678"),
    ("contact.phone", "电话 138-1234-5678"),
    ("contact.phone", "138 1234 5678 随时打"),
    ("contact.phone", "１３８１２３４５６７８"),
    ("contact.phone", "1 3 8 1 2 3 4 5 6 7 8"),
    ("contact.phone", "+86 13812345678"),
    ("contact.phone", "手机：一三八一二三四五六七八"),
    ("contact.phone", "幺三八幺二三四五六七八"),
    ("contact.phone", "座机 0571-88886666"),
    ("contact.phone", "(010)62345678 找王经理"),
    ("contact.phone", "有问题直接打我电话"),
    ("contact.phone", "这是我的私人号码"),
    ("contact.phone", "①③⑧①②③④⑤⑥⑦⑧"),
    ("contact.hotline", "售后请拨 400-820-8820"),
    ("contact.hotline", "4008208820"),
    ("contact.email", "发到 service@shop-a.com"),
    ("contact.email", "邮件 kefu(at)163点com"),
    ("contact.email", "请留一下您的邮箱"),
    ("contact.email", "邮箱地址告诉我"),
    ("contact.url", "详情见 https://example.com/a?b=1"),
    ("contact.url", "官网 www.brand-x.cn"),
    ("contact.url", "打开 shop-abc.top 下单更便宜"),
    ("contact.url", "域名是 mybrand点com"),
    ("contact.url", "http://t.cn/Ab12"),
    ("contact.diversion", "私聊我给你便宜"),
    ("contact.diversion", "加个好友吧"),
    ("contact.diversion", "进我们的福利群领券"),
    ("contact.diversion", "扫码关注有惊喜"),
    ("contact.diversion", "二维码发您了"),
    ("contact.diversion", "朋友圈每天更新新款"),
    ("contact.diversion", "关注公众号领保修"),
    ("contact.diversion", "小红书搜我们店名"),
    ("contact.diversion", "抖音号 brand888"),
    ("contact.diversion", "拼多多上更便宜"),
    ("contact.diversion", "闲鱼上也有卖"),
    ("contact.diversion", "留个联系方式"),
    ("contact.diversion", "加一下我，发你视频"),
    ("payment.off_platform", "直接转账给我就行"),
    ("payment.off_platform", "支付宝转账可以便宜"),
    ("payment.off_platform", "微信支付也可以"),
    ("payment.off_platform", "我发你收款码"),
    ("payment.off_platform", "钱打到我银行卡"),
    ("payment.off_platform", "私下交易不收手续费"),
    ("payment.off_platform", "不走平台，省点钱"),
    ("payment.off_platform", "线下付款也行"),
    ("payment.off_platform", "加你发个红包"),
    ("payment.off_platform", "把你的支付宝账号给我"),
    ("payment.off_platform", "差价我们私下返您"),
    ("payment.off_platform", "轉賬給我"),
    ("promise.refund", "不满意全额退款"),
    ("promise.refund", "支持无条件退货"),
    ("promise.refund", "包退包换"),
    ("promise.refund", "收到不喜欢随时退"),
    ("promise.refund", "有问题马上给您退款"),
    ("promise.refund", "无效退款"),
    ("promise.refund", "退全款给您"),
    ("promise.compensation", "丢件我们赔偿"),
    ("promise.compensation", "破损全额赔付"),
    ("promise.compensation", "假一赔十"),
    ("promise.compensation", "慢了补偿您5元"),
    ("promise.compensation", "好评返现"),
    ("promise.compensation", "返您10元红包"),
    ("promise.compensation", "十倍赔偿"),
    ("promise.compensation", "晚发一天赔你一块"),
    ("promise.compensation", "降价了给您退差价"),
    ("promise.guarantee", "保证正品"),
    ("promise.guarantee", "我向您承诺明天到"),
    ("promise.guarantee", "打包票没问题"),
    ("promise.guarantee", "终身保修"),
    ("promise.guarantee", "一定能到"),
    ("promise.guarantee", "包您满意"),
    ("ad.superlative", "这是最好的面料"),
    ("ad.superlative", "全网最便宜"),
    ("ad.superlative", "今年最流行的颜色"),
    ("ad.superlative", "最低价出售"),
    ("ad.superlative", "最高级的工艺"),
    ("ad.superlative", "最先进的技术"),
    ("ad.superlative", "穿着最舒服"),
    ("ad.superlative", "最好看的一款"),
    ("ad.superlative", "史上最强"),
    ("ad.superlative", "最佳选择"),
    ("ad.superlative", "最适合送礼"),
    ("ad.ranking", "销量第一"),
    ("ad.ranking", "第一品牌"),
    ("ad.ranking", "排名第1"),
    ("ad.ranking", "NO.1 的口碑"),
    ("ad.ranking", "天猫TOP1"),
    ("ad.ranking", "销量冠军"),
    ("ad.ranking", "独家配方"),
    ("ad.ranking", "全网唯一正品"),
    ("ad.ranking", "新品首发"),
    ("ad.ranking", "独一无二的设计"),
    ("ad.ranking", "行业领先"),
    ("ad.ranking", "首选品牌"),
    ("ad.grade", "国家级工艺"),
    ("ad.grade", "世界级品质"),
    ("ad.grade", "顶级面料"),
    ("ad.grade", "极品好茶"),
    ("ad.grade", "极致体验"),
    ("ad.grade", "特供产品"),
    ("ad.grade", "驰名商标"),
    ("ad.grade", "一流品质"),
    ("ad.certainty", "100%正品"),
    ("ad.certainty", "百分百满意"),
    ("ad.certainty", "绝对不掉色"),
    ("ad.certainty", "零风险"),
    ("ad.certainty", "永久不变形"),
    ("ad.certainty", "根治脱发"),
    ("ad.certainty", "无副作用"),
    ("ad.certainty", "立竿见影"),
    ("ad.certainty", "１００％有效"),
    ("privacy.password", "把支付密码发我"),
    ("privacy.password", "您的淘宝密码是多少"),
    ("privacy.verification_code", "发一下手机验证码"),
    ("privacy.verification_code", "收到的动态码报给我"),
    ("privacy.verification_code", "請提供驗證碼"),
    ("privacy.id_card", "麻烦提供身份证号"),
    ("privacy.id_card", "拍一下身份证正反面"),
    ("privacy.id_card", "护照号发我登记"),
    ("privacy.bank_card", "告诉我银行卡号"),
    ("privacy.bank_card", "卡号和开户行发一下"),
    ("privacy.bank_card", "再报一下信用卡背面的安全码"),
    ("privacy.bank_card", "CVV 是多少"),
]

# Texts no rule may hit (as a knowledge answer or a person's text; the claims are tested apart).
CLEAN = [
    "亲，在的，请问有什么可以帮您？",
    "最近订单比较多，我们会尽快发出",
    "最快明天发货，最晚后天",
    "这是最后一件了",
    "最多可以买5件",
    "最少起拍2件",
    "最大码是4XL",
    "最小号适合90斤",
    "您最好先量一下腰围再拍",
    "最好选大一码",
    "最新款已经上架",
    "最终以实物为准",
    "第一次购买可以领新人券",
    "第一件原价第二件半价",
    "我们会第一时间为您发货",
    "第一步先申请售后",
    "第1件299，第2件199",
    "面料：100%纯棉",
    "100%桑蚕丝，洗的时候要轻柔",
    "成分含量：100%棉",
    "有问题随时联系我们哦",
    "支持七天无理由退换，运费险已送",
    "请勿向任何人透露验证码，客服不会索要",
    "千万不要把密码告诉别人",
    "我们不会要您的银行卡号",
    "这款密码锁可以设6位密码",
    "密码箱是TSA海关锁",
    "路由器的初始密码是 admin，登录后可以修改",
    "绑定时会发验证码到您手机，输入即可",
    "清关需要实名，请在订单页面认证",
    "不能保证几点到，快递那边安排",
    "不支持无条件退款，请谅解",
    "保证金由平台收取",
    "QQ糖口味齐全",
    "口感QQ弹弹的",
    "发京东快递要补运费",
    "抖音同款，现货",
    "付款后支付宝会自动扣款",
    "退款会原路退回您的支付宝",
    "会员卡号在订单里可以看到",
    "快递单号SF1234567890123",
    "订单号 2938475610293847561",
    "价格是 139 元，包邮",
    "尺码：160 165 170 175",
    "身高165体重50拍M",
    "这款是 iPhone 15 的壳",
    "宝贝链接 https://item.taobao.com/item.htm?id=123 可以直接拍",
    "m.tb.cn/h.abc 复制到淘宝打开",
    "亲亲，给个五星好评哦",
    "天猫旗舰店，正品保障",
    "这个颜色是今年新出的",
    "大促期间发货会慢一点",
    "可以备注，我们会按备注发",
    "订单页面可以申请退款",
    "亲，稍等，马上为您查询～",
    "我们会继续努力，做到最好",
    "TV 和 XL 都有货",
]


@pytest.mark.parametrize(("code", "text"), CAUGHT)
def test_each_rule_catches_realistic_phrasings(code, text):
    assert code in codes(text)


@pytest.mark.parametrize("text", CLEAN)
def test_ordinary_replies_pass(text):
    assert safety_check(text).hits == ()


def test_every_shipped_rule_is_exercised_above():
    exercised = {code for code, _ in CAUGHT} | {"length.max"} | {r.code for r in SAFETY_RULES if r.claim}
    assert exercised == set(DEFAULT_RULE_CODES)


def test_a_hit_names_the_span_of_the_original_text():
    text = "亲～多多 Ｖ 信：ab12 哦"
    hit = next(h for h in safety_check(text).hits if h.code == "contact.wechat")
    assert text[hit.start:hit.end] == hit.matched == "Ｖ 信"


def test_a_spaced_number_span_covers_the_spaces():
    text = "电话 1 3 8 1 2 3 4 5 6 7 8 找我"
    hit = safety_check(text).hits[0]
    assert hit.code == "contact.phone" and hit.matched == "1 3 8 1 2 3 4 5 6 7 8"


def test_zero_width_characters_do_not_hide_a_word():
    assert "contact.wechat" in codes("加我微\u200d\u200b信")
    assert "promise.refund" in codes("全\ufeff额退款")


def test_hits_come_in_text_order_and_every_occurrence_counts():
    result = safety_check("保证正品，加微信，再加一次微信")
    assert [h.code for h in result.hits] == ["promise.guarantee", "contact.wechat", "contact.wechat"]
    assert result.codes == ("promise.guarantee", "contact.wechat")
    assert not result.ok


def test_a_long_number_is_no_phone_number():
    assert codes("订单 13812345678901 已出库") == set()
    assert codes("编号 813812345678") == set()


def test_a_link_to_the_platform_is_allowed_and_any_other_is_not():
    assert codes("https://detail.tmall.com/item.htm?id=9") == set()
    assert codes("https://detail.tmall.com.evil.cn/item.htm") == {"contact.url"}
    assert codes("https://taobao.com.example.net/") == {"contact.url"}


def test_contact_details_count_even_when_negated():
    # The platform's own filters do not read negation either.
    assert "contact.wechat" in codes("我们不加微信哦")


def test_reasons_are_translated():
    with translation.override("zh-hans"):
        zh = safety_check("微信").hits[0].reason
    with translation.override("en"):
        en = safety_check("微信").hits[0].reason
    assert en == "Mentions WeChat (contact off the platform)."
    assert zh != en and "微信" in zh


# --- claims of fact in AI drafts ------------------------------------------------------------

UNBACKED_CLAIMS = [
    ("claim.refunded", "亲，已为您退款，请注意查收"),
    ("claim.refunded", "退款已经原路退回啦"),
    ("claim.refunded", "钱已经退了哦"),
    ("claim.refunded", "我们已经同意了您的退款"),
    ("claim.shipped", "您的包裹已经发出了"),
    ("claim.shipped", "已给您补发了一个"),
    ("claim.shipped", "快递已揽收，在路上了"),
    ("claim.credited", "补偿的5元已到账"),
    ("claim.credited", "红包已经发放到您账户"),
    ("claim.action_done", "已经为您备注加急"),
    ("claim.action_done", "已帮您修改好地址了"),
    ("claim.action_done", "已经给您申请了延长收货"),
    ("claim.action_done", "已经联系了快递催促"),
]


@pytest.mark.parametrize(("code", "text"), UNBACKED_CLAIMS)
def test_an_ai_draft_claiming_what_nobody_said_is_caught(code, text):
    assert code in codes(text, ai_draft=True, context=["买家：在吗", "买家：我的东西呢"])


@pytest.mark.parametrize(("code", "text"), UNBACKED_CLAIMS)
def test_the_same_text_from_a_person_or_the_knowledge_base_is_no_claim(code, text):
    assert not any(c.startswith("claim.") for c in codes(text))


@pytest.mark.parametrize(("draft", "context"), [
    ("您的包裹已发货，请留意物流", ["系统：卖家已发货，运单号 YT123456789012"]),
    ("您的包裹已经发出了", ["卖家：亲，今天已经发出了哦"]),
    ("退款已经原路退回啦", ["系统：退款成功"]),
    ("钱已经退了哦", ["卖家：您的退款已处理，已退回支付宝"]),
    ("补偿的5元已到账", ["系统：红包5元已到账"]),
    ("已经为您备注加急", ["卖家：好的，已经为您备注了"]),
])
def test_a_claim_the_conversation_states_is_backed(draft, context):
    assert not any(c.startswith("claim.") for c in codes(draft, ai_draft=True, context=context))


def test_a_question_in_the_conversation_backs_nothing():
    assert "claim.shipped" in codes("您的包裹已经发货了", ai_draft=True, context=["买家：已经发货了吗？"])
    assert "claim.refunded" in codes("已为您退款", ai_draft=True, context=["买家：退款已经到了没"])


def test_the_knowledge_answer_backs_a_claim_when_passed_as_context():
    answer = "您好，订单已发货，物流单号可在订单详情查看"
    assert codes("亲，已发货了哦", ai_draft=True, context=[answer]) == set()


def test_a_claim_of_one_kind_is_not_backed_by_another():
    assert "claim.refunded" in codes("已为您退款", ai_draft=True, context=["系统：卖家已发货"])


# --- length ----------------------------------------------------------------------------------


def test_the_default_maximum_is_800_characters():
    assert safety_check("好" * 800).ok
    hit = safety_check("好" * 801).hits[0]
    assert hit.code == "length.max" and (hit.start, hit.end) == (800, 801)


def test_a_shop_sets_its_own_maximum():
    settings = SafetySettings(max_length=20)
    assert safety_check("好" * 21, settings=settings).codes == ("length.max",)
    assert safety_check("好" * 20, settings=settings).ok


# --- the shop's settings ---------------------------------------------------------------------


def test_a_shop_switches_a_shipped_rule_off_by_code():
    settings = SafetySettings(disabled_rules=frozenset({"contact.hotline", "length.max"}))
    text = "格力售后 400-820-8820" + "好" * 900
    assert safety_check(text).codes == ("contact.hotline", "length.max")
    assert safety_check(text, settings=settings).ok


def test_forbidden_phrases_join_the_check_evasion_aware():
    settings = SafetySettings(forbidden_phrases=("最低价", "清仓"))
    result = safety_check("全店 清❤仓 了", settings=settings)
    assert [(h.code, h.matched) for h in result.hits] == [("shop.forbidden_phrase", "清❤仓")]
    assert "清仓" in result.hits[0].reason


def test_a_shop_pattern_with_a_wildcard():
    settings = SafetySettings(patterns=("找*代购",))
    assert safety_check("可以找我们的代购", settings=settings).codes == ("shop.pattern",)
    assert safety_check("可以找代购", settings=settings).codes == ("shop.pattern",)
    assert safety_check("找一找，明天有代购", settings=settings).ok  # not across a clause


def test_an_exempt_phrase_clears_hits_inside_it():
    settings = SafetySettings(exempt_phrases=("极品茶庄",))
    assert safety_check("极品茶庄的新茶到了", settings=settings).ok
    assert safety_check("极品茶庄的极品好茶", settings=settings).codes == ("ad.grade",)


def test_a_phrase_of_nothing_but_wildcards_is_ignored():
    settings = SafetySettings.from_shop_settings({"forbidden_phrases": ["*", " * "], "reply_safety": {}})
    assert settings.forbidden_phrases == ()
    assert safety_check("任何文字", settings=settings).ok


def test_settings_read_from_the_shop_settings_dict():
    settings = SafetySettings.from_shop_settings({
        "forbidden_phrases": ["清仓"],
        "reply_safety": {"max_length": 300, "disabled_rules": ["ad.grade"], "patterns": ["找*代购"],
                         "exempt_phrases": ["极品茶庄"]},
    })
    assert settings == SafetySettings(max_length=300, disabled_rules=frozenset({"ad.grade"}),
                                      forbidden_phrases=("清仓",), patterns=("找*代购",),
                                      exempt_phrases=("极品茶庄",))
    assert SafetySettings.from_shop_settings({}) == SafetySettings()


def test_the_check_is_pure_and_repeatable():
    text = "加我微信 13812345678，保证最低价"
    assert safety_check(text) == safety_check(text)
