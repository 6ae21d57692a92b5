import factory

from customer_service.models import AlertChannel, AlertChannelKind


class AlertChannelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AlertChannel

    name = factory.Sequence(lambda n: f"告警渠道{n}")
    kind = AlertChannelKind.EMAIL
    recipients = "ops@example.com"
