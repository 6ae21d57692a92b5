"""Pre-send safety check: what no reply may say to a buyer, whoever wrote it.

Every outgoing text — a knowledge answer, an AI draft, a person's edit, a
template — passes :func:`safety_check` before it may be sent. A hit blocks
sending and puts the reply in front of a person with the rules named.

What is checked (rule codes are stable; a shop switches a default rule off by
its code, see :class:`SafetySettings`):

========================== =====================================================================
code                       catches
========================== =====================================================================
contact.wechat             WeChat, spelt any way (微信, 威信, 薇❤信, V信, vx, wx, wechat, 绿泡泡)
contact.qq                 QQ (qq, q.q, 扣扣, 企鹅号); not QQ糖 / QQ弹
contact.phone              mobile numbers (also spaced, dashed, full-width, spelt in Chinese) and
                           landlines with an area code; "call my phone" phrasings
contact.hotline            400 / 800 service numbers
contact.email              e-mail addresses (also name(at)163点com), asking for an e-mail address
contact.url                links and bare domains, except the platform's own (taobao.com,
                           tmall.com, tb.cn)
contact.diversion          anything else that takes the buyer off the platform: private chat, add
                           me as a friend, groups, QR codes, WeChat accounts and Moments, other
                           apps (Douyin/Xiaohongshu accounts, DingTalk, Pinduoduo, Xianyu…)
payment.off_platform       paying or refunding outside the platform: 转账, 打款, 收款码, 微信支付,
                           支付宝转账 / 账号, 银行卡, 私下 / 线下交易, 不走平台
promise.refund             refund promises: 全额退款, 无条件, 包退包换, 秒退, 无效退款…
promise.compensation       compensation or cashback promises: 赔偿, 赔付, 补偿, 假一赔十, 返现…
promise.guarantee          guarantees: 保证, 承诺, 打包票, 终身保修, 一定能到…
ad.superlative             最 + a quality (最好的, 最便宜, 最流行, 全网最…)
ad.ranking                 rankings and uniqueness: 第一 (not 第一次 / 第一件), NO.1, 冠军, 首选,
                           独家, 唯一指定, 史无前例…
ad.grade                   grades: 国家级, 世界级, 顶级, 极品, 极致, 特供, 驰名商标…
ad.certainty               certainty: 100% (not a fibre content), 百分百, 绝对, 零风险, 永久, 根治…
privacy.password           asking for a password (not a 密码锁 / 密码箱)
privacy.verification_code  asking for a verification code
privacy.id_card            asking for an ID card or passport number or photo
privacy.bank_card          asking for a bank card number, account, CVV
claim.refunded             an AI draft saying the refund is done — unless the conversation says so
claim.shipped              an AI draft saying the parcel has left — unless the conversation says so
claim.credited             an AI draft saying money arrived — unless the conversation says so
claim.action_done          an AI draft saying it did something for the buyer (已为您备注 / 修改 /
                           加急 / 申请…) — unless the conversation says so
length.max                 longer than the shop's maximum (default 800 characters)
shop.forbidden_phrase      one of the shop's forbidden phrases (settings ``forbidden_phrases``)
shop.pattern               one of the shop's own patterns (``reply_safety.patterns``)
========================== =====================================================================

False-positive policy (decided, and tested):

- Contact details are caught whatever surrounds them, negations included
  ("不加微信"): the platform's own filters do not read negation either.
- Promises are not caught when negated ("不能保证", "不支持无条件退款").
- 最 is caught before any quality word, not before words that state a time,
  a quantity, a size or a position: 最近, 最后, 最快 / 最晚 (发货), 最多 / 最少,
  最大 / 最小 (码), 最高 / 最低 (as limits), 最新, 最先, 最好 as advice
  ("最好先量一下"); still caught: 最好的 / 最好看 / 最好用, 最低价, 最高级,
  最先进, 最新科技, 全网最, 史上最. The market regulator's guidance on
  absolute terms (2023) treats factual time, size and order statements alike.
- 第一 is caught as a ranking (第一品牌, 销量第一, 第一名), not as an ordinal
  (第一次, 第一件半价, 第一时间, 第一步…).
- 100% is caught unless it states a material content (100%纯棉, 100%桑蚕丝),
  which textile labelling requires.
- Asking for a password, code, ID or card is caught ("把验证码发给我",
  "密码是多少", "提供身份证号"); mentioning one is not ("初始密码是 admin",
  "会发验证码到您手机"), nor is a warning not to share one
  ("请勿把验证码告诉任何人").
- Claims of fact are checked in AI drafts only, and a claim is *backed* when
  one of the texts given as context (the conversation so far, the knowledge
  answer, order notices) states the same kind of fact — a question there
  ("已经发货了吗？") backs nothing.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .text import SEPARATOR as S
from .text import Normalized, clause_around, covered, find_phrases, normalize, phrases_regex, usable_phrases

DEFAULT_MAX_LENGTH = 800
_NEGATIONS = r"不|无法|不能|没法|没办法|不会|不支持|不可以|不提供|做不到|不敢|难以|无需|不用|没有"
_NEGATION_BEFORE = re.compile(f"(?:{_NEGATIONS})$")
_SHARING_WARNING = re.compile(
    r"请勿|切勿|千万(?:不要|别)|谨防|防骗|诈骗|保管好|注意保密|"
    r"妥善保管|不会[^，,]{0,6}?(?:索要|索取|询问|要求|问|要)|"
    r"(?:不要|别|勿|不可|不能|不得)[^，,]{0,10}?(?:告诉|透露|泄露|提供|发送|发给|给|相信|输入|外泄|转发|出示)|"
    r"(?:无需|不需要|不用)[^，,]{0,4}?(?:提供|告知|告诉|发)"
)
# Asking for something: a privacy rule only holds in a clause that asks the buyer for it.
_REQUEST = re.compile(
    r"发(?:给|过来|来|一下|下)|发我|告诉(?:我|客服|我们)|给我|报给|报一下|提供|说一下|说下|多少|是什么|几位|"
    r"拍(?:一下|下|个|张)|上传|登记|核实|需要(?:您|你)的|麻烦"
)
_QUESTION_AFTER = re.compile(r"[^，,。]{0,3}?(?:吗|么|嘛|没|\?)")


@dataclass(frozen=True)
class SafetyRule:
    """One shipped rule: a pattern over normalised text, with the contexts that clear a match."""

    code: str
    reason: Promise
    pattern: re.Pattern
    #: A match is cleared when this matches the normalised text right before it (anchored at its end).
    unless_before: re.Pattern | None = None
    #: A match is cleared when this matches the normalised text right after it.
    unless_after: re.Pattern | None = None
    #: A match is cleared when this is found in the matched text itself.
    unless_within: re.Pattern | None = None
    #: A match is cleared when this is found in the clause around it.
    unless_clause: re.Pattern | None = None
    #: A match only holds when this is found in the clause around it.
    only_clause: re.Pattern | None = None
    #: Only for AI drafts, and cleared when the context states the same (see ``evidence``).
    claim: bool = False
    #: More ways a context text backs a claim, besides ``pattern`` itself.
    evidence: re.Pattern | None = None

    def matches(self, norm: Normalized):
        """The ``(start, end)`` spans of normalised text where this rule holds."""
        text = norm.text
        for m in self.pattern.finditer(text):
            start, end = m.span()
            if start == end:
                continue
            if self.unless_before and self.unless_before.search(text[max(0, start - 8):start]):
                continue
            if self.unless_after and self.unless_after.match(text, end):
                continue
            if self.unless_within and self.unless_within.search(m.group()):
                continue
            clause = clause_around(text, start, end) if self.unless_clause or self.only_clause else ""
            if self.unless_clause and self.unless_clause.search(clause):
                continue
            if self.only_clause and not self.only_clause.search(clause):
                continue
            yield start, end

    def backed_by(self, context: Sequence[str]) -> bool:
        """Whether one of ``context`` states this claim (not merely asks about it)."""
        for item in context:
            text = normalize(item).text
            for pattern in filter(None, (self.pattern, self.evidence)):
                for m in pattern.finditer(text):
                    if not _QUESTION_AFTER.match(text, m.end()):
                        return True
        return False


def _re(pattern: str) -> re.Pattern:
    return re.compile(pattern)


def _before(pattern: str) -> re.Pattern:
    return re.compile(f"(?:{pattern})$")


_PLATFORM_DOMAINS = r"(?:^|[./])(?:taobao\.com|tmall\.com|tmall\.hk|tb\.cn)(?:[/:?#]|$)"
_TLDS = r"com|cn|net|org|top|xyz|cc|co|io|vip|shop|me|info|link|app|site|club|ltd|tv|wang|online|store|tech|biz|hk|tw"
_FIBRES = (
    r"(?:纯|全)?(?:棉|羊毛|羊绒|真丝|蚕丝|桑蚕丝|涤纶|聚酯|锦纶|尼龙|氨纶|粘纤|粘胶|莫代尔|亚麻|苎麻|天丝|莱赛尔|腈纶|"
    r"牛皮|羊皮|鹅绒|鸭绒|白鹅绒|白鸭绒|纤维|麻|皮|绒|毛|丝|铜|不锈钢|铝|实木|橡胶|乳胶|硅胶|纯棉)"
)
_ORDINAL_AFTER = (
    r"(?:次|件|个|天|步|时间|批|单|条|页|张|款|种|位|周|月|年|眼|点|句|层|阶段|期|份|包|箱|瓶|套|双|项|部|集|轮|季|"
    r"排|行|列|段|章|节|遍|回|站|手|波|口|顿|晚|夜|场|台|辆|只|支|把|颗|粒|盒|袋|罐|杯|斤|克|号|代|版|课|讲|任|届|"
    r"印象|反应|感觉|[0-9])"
)
# 最 before these states a time, a quantity, a size, a position or gives advice (see the policy above).
_NEUTRAL_AFTER_ZUI = "近后终初早晚迟快慢多少大小长短宽窄厚薄重轻高低新先前末上下里外左右远深浅"

SAFETY_RULES: tuple[SafetyRule, ...] = (
    SafetyRule(
        "contact.wechat", gettext_lazy("Mentions WeChat (contact off the platform)."),
        _re(
            rf"[微威薇徽溦嶶]{S}[信芯❤♥]|(?<![a-z0-9])v{S}[信❤♥]|绿泡泡|(?:加|\+|➕)(?:个|一下|下|我)?v(?![a-z0-9])|"
            rf"(?<![a-z])(?:v{S}x|w{S}x|vx|wx|wei{S}xin|we{S}chat|weixin|wechat)(?![a-z])"
        ),
    ),
    SafetyRule(
        "contact.qq", gettext_lazy("Mentions QQ (contact off the platform)."),
        _re(rf"(?<![a-z0-9])q{S}q(?![a-z])|扣扣|抠抠|企鹅(?:号|群)"),
        unless_after=_re(r"糖|弹"),
    ),
    SafetyRule(
        "contact.phone", gettext_lazy("Gives a phone number or asks the buyer to call."),
        _re(
            r"(?<!\d)(?:\+?86[-\s]?)?1[3-9]\d(?:[-\s.·/]?\d){8}(?!\d)|"
            r"(?<!\d)0\d{2,3}[-\s]\d{7,8}(?!\d)|\(0\d{2,3}\)\d{7,8}(?!\d)|"
            r"打我的?(?:电话|手机)|我的私?人?(?:电话|手机|号码)|私人(?:电话|手机|号码)|给我打电话|直接打我?电话|"
            r"(?:电话|手机)联系我"
        ),
    ),
    SafetyRule(
        "contact.hotline", gettext_lazy("Gives a 400/800 service number."),
        _re(r"(?<!\d)[48]00[-\s]?\d{3}[-\s]?\d{4}(?!\d)"),
    ),
    SafetyRule(
        "contact.email", gettext_lazy("Gives or asks for an e-mail address."),
        _re(
            r"[a-z0-9._%+-]+(?:@|\(at\)|\[at\]|艾特)[a-z0-9-]+(?:\.[a-z0-9-]+)*(?:\.|点|dot)[a-z]{2,6}(?![a-z])|"
            r"(?:留|发|给|告诉|提供)[^。，,]{0,4}?邮箱|邮箱(?:地址|号)"
        ),
    ),
    SafetyRule(
        "contact.url", gettext_lazy("Contains a link outside the platform."),
        _re(
            r"(?:https?://|www\.)[^\s，。！？、<>\"'（）()\u4e00-\u9fff]+|"
            rf"(?<![a-z0-9@._-])(?:[a-z0-9-]+\.)+(?:{_TLDS})(?![a-z0-9])(?:[/:?#][^\s，。！？\u4e00-\u9fff]*)?|"
            r"(?<![a-z0-9])[a-z0-9-]{2,}(?:点|dot)(?:com|cn|net)(?![a-z])"
        ),
        unless_within=_re(_PLATFORM_DOMAINS),
    ),
    SafetyRule(
        "contact.diversion", gettext_lazy("Invites the buyer off the platform (private chat, groups, QR codes, "
                                          "other apps)."),
        _re(
            r"加(?:一下|下)?我|(?:加|添加)(?:个|一下|下)?好友|私聊|私信|私下(?:联系|沟通|聊)|"
            r"(?:联系|联络)方式|(?:粉丝|福利|会员|售后|vip|老客户?|买家|优惠)群|[加进拉入](?:个|一下|下|您|你)?群|"
            r"二维码|扫码|扫一扫|朋友圈|公众号|视频号|"
            r"(?:抖音|快手|小红书|微博)(?:号|账号|主页|直播间|搜索?|私信)|关注(?:我们|我)?的?(?:抖音|快手|小红书|微博)|"
            r"钉钉|飞书|拼多多|闲鱼|京东|(?<![a-z])(?:telegram|whatsapp)(?![a-z])"
        ),
        unless_after=_re(r"们|枪|器|快递|物流|配送|送货|自营"),
    ),
    SafetyRule(
        "payment.off_platform", gettext_lazy("Asks for payment or offers a refund outside the platform."),
        _re(
            r"转账|转帐|汇款|打钱|打款|收款码|付款码|收钱码|"
            rf"[微威薇]{S}信{S}(?:支付|付款|转|红包)|支付宝{S}(?:转|账号|帐号|收款|红包|扫码)|"
            r"(?:转|打|汇)(?:到|给|进)?(?:我|我的)?(?:支付宝|微信|银行卡|卡上|账户)|"
            r"银行卡(?:转|付|汇)|对公(?:转账|账户|打款)|"
            r"(?:私下|线下|站外|平台外)(?:交易|付款|支付|转|打|结算|返|退|给)|不走(?:平台|淘宝|天猫|系统)|"
            r"绕过(?:平台|淘宝|天猫)|直接(?:付|给|转)(?:我|钱)|发(?:个)?红包"
        ),
        unless_before=_before(r"原路|系统|自动|平台会?"),
    ),
    SafetyRule(
        "promise.refund", gettext_lazy("Promises a refund or a return."),
        _re(
            r"全额退|退全款|全款退|无条件|包退|包换|保退|秒退|随时(?:可以)?退|保证退|一定(?:会|给您|给你)?退|"
            r"(?:马上|立即|立刻)(?:给您|给你|为您|帮您)?(?:退款|退钱)|无效退|不满意(?:就|可以|包|随时)?退"
        ),
        unless_before=_NEGATION_BEFORE,
    ),
    SafetyRule(
        "promise.compensation", gettext_lazy("Promises compensation or cashback."),
        _re(
            r"赔偿|赔付|赔(?:您|你|给)|包赔|补偿|理赔|赔钱|赔款|返现|假一(?:赔|罚)|(?:三|十|双|两|\d)倍赔|退一赔|"
            r"返(?:您|你)(?:\d|[一二三四五六七八九十两几]|钱|现|红包)|(?:返|补|退)[^，。,]{0,6}?差价|差价(?:补|返|退)"
        ),
        unless_before=re.compile(f"(?:{_NEGATIONS}|先行)$"),
    ),
    SafetyRule(
        "promise.guarantee", gettext_lazy("Gives a guarantee or a promise."),
        _re(
            r"保证(?!金)|承诺|担保|打包票|包(?:满意|好用|有效|治|过|成功|您满意|你满意)|"
            r"一定(?:能|会|可以)?(?:到|送到|送达|收到|有效|治好|解决|满意)|肯定(?:能|会)(?:到|送达|收到|有效|解决)|"
            r"终身(?:保修|质保|包换|售后|免费)"
        ),
        unless_before=_NEGATION_BEFORE,
    ),
    SafetyRule(
        "ad.superlative", gettext_lazy("Uses a superlative banned in advertising (最…)."),
        _re(
            rf"最(?:高|低)(?:级|端|档|价|品质|水平|标准)|最先进|最新(?:科技|科学|技术|工艺)|最大(?:程度|限度)|"
            rf"全网最|史上最|最好(?=的|看|用|吃|喝|穿|卖|闻|听|玩)|最(?![{_NEUTRAL_AFTER_ZUI}好])(?=[\u4e00-\u9fff])"
        ),
        # "做到最好", "尽力做到最好的": an effort, not a claim about the product.
        unless_before=_before(r"做到|做得|尽力|尽量|争取|力争"),
    ),
    SafetyRule(
        "ad.ranking", gettext_lazy("Claims a ranking or uniqueness banned in advertising (第一, NO.1, 独家…)."),
        _re(
            rf"第[一1](?!{_ORDINAL_AFTER})|(?<![a-z])no\.?1(?!\d)|(?<![a-z])top\s?(?:1|3|5|10)(?!\d)|"
            r"冠军|榜首|销冠|首家|首个|首选|首发|独家|唯一(?:指定|授权|正品|品牌|一家|的选择|选择|专利)|"
            r"(?:全网|全国|行业)唯一|独一无二|绝无仅有|史无前例|前无古人|遥遥领先|(?:行业|全球|国际|世界|全国)领先|"
            r"(?:领导|领袖|领先|王牌)品牌|领导者|王牌|霸主|之王|无敌|无人能及|无与伦比|无可比拟|秒杀全网"
        ),
    ),
    SafetyRule(
        "ad.grade", gettext_lazy("Claims a grade banned in advertising (国家级, 顶级, 极品…)."),
        _re(
            r"国家级|世界级|国际级|宇宙级|全球级|殿堂级|大师级|顶级|顶尖|尖端|极品|极致|极佳|绝佳|终极|至尊|至臻|"
            r"国家(?:免检|推荐|指定|特供)|领导人|特供|专供|驰名商标|中国驰名|超?一流"
        ),
    ),
    SafetyRule(
        "ad.certainty", gettext_lazy("Claims certainty banned in advertising (100%, 绝对, 永久…)."),
        _re(
            r"(?<![\d.])100(?:\.0+)?%|百分百|百分之百|百分之一百|绝对|零风险|零缺陷|零差评|(?:无|零|没有)副作用|"
            r"永久|永不|万能|包治|根治|药到病除|一次见效|立竿见影|立即见效|彻底(?:治愈|根除)|神效|奇效"
        ),
        unless_after=re.compile(r"(?:的)?" + _FIBRES),
    ),
    SafetyRule(
        "privacy.password", gettext_lazy("Asks for a password."),
        _re(r"(?<!动态)密码(?!锁|箱|柜|盒|本|器|门|键盘|保险|学|子)"),
        unless_clause=_SHARING_WARNING,
        only_clause=_REQUEST,
    ),
    SafetyRule(
        "privacy.verification_code", gettext_lazy("Asks for a verification code."),
        _re(r"验证码|校验码|动态码|动态密码|短信码"),
        unless_clause=_SHARING_WARNING,
        only_clause=_REQUEST,
    ),
    SafetyRule(
        "privacy.id_card", gettext_lazy("Asks for an ID card or passport."),
        _re(r"身份证|证件号|护照号|身份号码"),
        unless_clause=_SHARING_WARNING,
        only_clause=_REQUEST,
    ),
    SafetyRule(
        "privacy.bank_card", gettext_lazy("Asks for a bank card or account number."),
        _re(
            r"银行卡(?:号|信息|照片|账号)|(?<!会员)(?<!快递)(?<!订单)(?<!运单)(?<!礼品)卡号|银行(?:账号|帐号|账户)|"
            r"开户行|(?<![a-z])(?:cvv|cvn)(?![a-z])|安全码|信用卡(?:号|信息|有效期)|储蓄卡号"
        ),
        unless_clause=_SHARING_WARNING,
        only_clause=_REQUEST,
    ),
    SafetyRule(
        "claim.refunded", gettext_lazy("Says the refund is done, and nothing in the conversation says so."),
        _re(
            r"已(?:经)?(?:为|给|帮)?(?:您|你|亲)?(?:办理|处理|操作|安排|申请|提交)?(?:了)?(?:退款|退钱|退回|退还|原路退)|"
            r"退款已(?:经)?(?:退|到账|完成|成功|原路|处理|退回|办理|打|发起|提交|同意)|"
            r"(?:钱|款|货款|差价|运费)(?:已|已经)(?:退|返|打)|同意了?(?:您的)?退款"
        ),
        claim=True,
        evidence=_re(r"退款成功|退款完成|已退款|退款已|已退回|退款金额[^，。]{0,12}?已"),
    ),
    SafetyRule(
        "claim.shipped", gettext_lazy("Says the parcel has left, and nothing in the conversation says so."),
        _re(
            r"已(?:经)?(?:为|给|帮)?(?:您|你|亲)?(?:安排)?(?:了)?(?:发货|发出|寄出|发走|补发|重发|揽收|出库)|"
            r"(?:包裹|快递|货|宝贝|商品|订单)(?:已|已经)(?:发|寄|出库|揽收|在路上)"
        ),
        claim=True,
        evidence=_re(r"已发货|已揽收|运输中|派送中|已签收|(?:运|快递|物流)单号"),
    ),
    SafetyRule(
        "claim.credited", gettext_lazy("Says money has arrived, and nothing in the conversation says so."),
        _re(
            r"(?:已|已经)到账|"
            r"(?:补偿|红包|优惠券|赔偿|差价|返现|钱|款)(?:已|已经)(?:到账|发放|发到|打到|转到|发给)"
        ),
        claim=True,
        evidence=_re(r"到账"),
    ),
    SafetyRule(
        "claim.action_done", gettext_lazy("Says something was done for the buyer, and nothing in the conversation "
                                          "says so."),
        _re(
            r"(?:已|已经)(?:为|给|帮|替)(?:您|你|亲)[^，。！？,!?]{0,2}?"
            r"(?:备注|修改|改|更改|申请|登记|处理|安排|办理|加急|反馈|催|提交|升级|核实|补发|取消|拦截|延长|联系|上报|"
            r"报备|改价|减价|换|补偿|预留|锁定|保留)|"
            r"(?:已|已经)(?:修改|改好|改了|更改|备注|取消|拦截|加急|催促|催了|反馈给|联系了|核实)"
        ),
        claim=True,
    ),
)

#: Every shipped rule code, plus the codes of the length limit and the shop's own phrases.
LENGTH_CODE = "length.max"
FORBIDDEN_PHRASE_CODE = "shop.forbidden_phrase"
SHOP_PATTERN_CODE = "shop.pattern"
DEFAULT_RULE_CODES: tuple[str, ...] = (*(rule.code for rule in SAFETY_RULES), LENGTH_CODE)


@dataclass(frozen=True)
class SafetySettings:
    """A shop's safety settings: the shipped rules, less those switched off, plus the shop's own.

    ``forbidden_phrases`` and ``patterns`` are phrases matched evasion-aware
    (``*`` = at most four characters of one clause); ``exempt_phrases`` clear
    any hit that lies inside them (a brand name such as 极品茶庄).
    """

    max_length: int = DEFAULT_MAX_LENGTH
    disabled_rules: frozenset[str] = frozenset()
    forbidden_phrases: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    exempt_phrases: tuple[str, ...] = ()

    @classmethod
    def from_shop_settings(cls, settings: Mapping) -> SafetySettings:
        """Read from ``configs.selectors.shop_settings_get(shop=…)``; a missing key keeps its default."""
        safety = settings.get("reply_safety") or {}
        return cls(
            max_length=int(safety.get("max_length", DEFAULT_MAX_LENGTH)),
            disabled_rules=frozenset(safety.get("disabled_rules") or ()),
            forbidden_phrases=usable_phrases(settings.get("forbidden_phrases")),
            patterns=usable_phrases(safety.get("patterns")),
            exempt_phrases=usable_phrases(safety.get("exempt_phrases")),
        )


DEFAULT_SAFETY = SafetySettings()


@dataclass(frozen=True)
class SafetyHit:
    """One reason a text may not be sent: the rule's code, why (translated), and where."""

    code: str
    reason: str
    start: int
    end: int
    matched: str


@dataclass(frozen=True)
class SafetyResult:
    """The outcome of :func:`safety_check`: the hits in text order; no hit means the text may be sent."""

    hits: tuple[SafetyHit, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.hits

    @property
    def codes(self) -> tuple[str, ...]:
        """The codes that hit, each once, in text order."""
        return tuple(dict.fromkeys(hit.code for hit in self.hits))


@functools.lru_cache(maxsize=256)
def _shop_rules(settings: SafetySettings):
    rules = tuple(rule for rule in SAFETY_RULES if rule.code not in settings.disabled_rules)
    return (
        rules,
        phrases_regex(settings.forbidden_phrases, tolerant=True),
        phrases_regex(settings.patterns, tolerant=True),
        phrases_regex(settings.exempt_phrases, tolerant=False),
    )


def safety_check(
    text: str,
    *,
    settings: SafetySettings = DEFAULT_SAFETY,
    ai_draft: bool = False,
    context: Sequence[str] = (),
) -> SafetyResult:
    """Check ``text`` before it is sent to a buyer.

    ``settings``: the shop's (:meth:`SafetySettings.from_shop_settings`).
    ``ai_draft``: the text was written by the LLM, so its claims of fact
    (``claim.*``) must be backed by ``context``: the texts that establish
    facts — the conversation so far, the knowledge answer used, order notices.
    Pure: no database, no network; the same input gives the same result.
    """
    norm = normalize(text)
    rules, forbidden, patterns, exempt = _shop_rules(settings)
    exempt_spans = [norm.span(s, e) for _, s, e in find_phrases(norm, exempt)]
    hits: list[SafetyHit] = []

    def add(code: str, reason: str, start: int, end: int):
        span = norm.span(start, end)
        if not covered(span, exempt_spans):
            hits.append(SafetyHit(code=code, reason=reason, start=span[0], end=span[1],
                                  matched=text[span[0]:span[1]]))

    for rule in rules:
        if rule.claim and not ai_draft:
            continue
        found = list(rule.matches(norm))
        if found and rule.claim and rule.backed_by(context):
            continue
        for start, end in found:
            add(rule.code, str(rule.reason), start, end)
    for i, start, end in find_phrases(norm, forbidden):
        add(FORBIDDEN_PHRASE_CODE, _("Contains the shop's forbidden phrase “%(phrase)s”.")
            % {"phrase": settings.forbidden_phrases[i]}, start, end)
    for i, start, end in find_phrases(norm, patterns):
        add(SHOP_PATTERN_CODE, _("Matches the shop's pattern “%(pattern)s”.")
            % {"pattern": settings.patterns[i]}, start, end)
    if LENGTH_CODE not in settings.disabled_rules and len(text) > settings.max_length:
        hits.append(SafetyHit(
            code=LENGTH_CODE,
            reason=_("Longer than %(max)s characters (%(length)s).") % {"max": settings.max_length,
                                                                         "length": len(text)},
            start=settings.max_length, end=len(text), matched=text[settings.max_length:],
        ))
    hits.sort(key=lambda hit: (hit.start, hit.end, hit.code))
    return SafetyResult(hits=tuple(hits))
