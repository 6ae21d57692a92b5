"""The canned replies every shop starts with, as shared reply templates (a shop overrides one by its code).

Each passes the shipped pre-send safety check (no contact details, promises or absolute claims). A code
already taken (edited or created earlier) is left as it is; the reverse removes only the rows left as seeded.
"""

from django.db import migrations

TEMPLATES = [
    ("hello", "问候", "亲，您好，欢迎光临～请问有什么可以帮您的？"),
    ("wait", "稍等", "亲，稍等，马上为您查询～"),
    ("size", "尺码推荐", "亲，麻烦告诉我您的身高和体重，我帮您推荐合适的尺码～"),
    ("stock", "库存确认", "亲，您看中的款式和颜色告诉我一下，我马上帮您确认库存～"),
    ("shipping", "发货时间", "亲，我们会按付款顺序尽快为您安排发货，发货后可以在订单详情里查看物流哦～"),
    ("logistics", "查物流", "亲，麻烦提供一下订单号，我马上帮您查询物流进度～"),
    ("aftersale", "售后问题", "亲，非常抱歉给您带来不便，麻烦描述一下问题并拍张照片，我们马上为您处理～"),
    ("return", "退换货", "亲，收到商品后如需退换，请在订单页申请退换货，我们审核后会尽快为您处理～"),
    ("invoice", "发票", "亲，需要发票的话请把抬头和税号留给我，我们发货时为您开具～"),
    ("thanks", "感谢", "感谢亲的支持，祝您购物愉快～"),
    ("bye", "结束语", "亲，还有其他问题随时联系我们哦，祝您生活愉快～"),
    ("away", "下班留言", "亲，现在是非工作时间，您的留言我们上班后第一时间回复～"),
]


def seed(apps, schema_editor):
    ReplyTemplate = apps.get_model("customer_service", "ReplyTemplate")
    taken = set(ReplyTemplate.objects.filter(shop__isnull=True).values_list("code", flat=True))
    ReplyTemplate.objects.bulk_create(
        ReplyTemplate(shop=None, code=code, title=title, text=text)
        for code, title, text in TEMPLATES if code not in taken
    )


def unseed(apps, schema_editor):
    ReplyTemplate = apps.get_model("customer_service", "ReplyTemplate")
    for code, title, text in TEMPLATES:
        ReplyTemplate.objects.filter(shop__isnull=True, code=code, title=title, text=text).delete()


class Migration(migrations.Migration):
    dependencies = [("customer_service", "0007_knowledge_suggestions")]

    operations = [migrations.RunPython(seed, unseed)]
