from datetime import timedelta

import factory
from django.utils import timezone

from customer_service.models import (
    Conversation,
    Message,
    MessageStatus,
    OutgoingReply,
    Reply,
    ReplySource,
    ReplyTemplate,
    ReviewItem,
    Shop,
    ShopMembership,
)
from customer_service.shops.choices import ShopRole
from tests.accounts.factories import UserFactory


class ShopFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Shop

    name = factory.Sequence(lambda n: f"店铺{n}")
    qianniu_title = factory.LazyAttribute(lambda o: f"{o.name} - 千牛工作台")


class ShopMembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ShopMembership

    shop = factory.SubFactory(ShopFactory)
    user = factory.SubFactory(UserFactory)
    role = ShopRole.AGENT


class ConversationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Conversation

    shop = factory.SubFactory(ShopFactory)
    buyer_id = factory.Sequence(lambda n: f"买家{n}")


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message

    conversation = factory.SubFactory(ConversationFactory)
    shop = factory.SelfAttribute("conversation.shop")
    content = "这款有XL吗？"
    external_id = factory.Sequence(lambda n: f"ext-{n}")


class ReplyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Reply

    message = factory.SubFactory(MessageFactory)
    source = ReplySource.KB
    text = "亲，有的哦～"


class ReviewItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReviewItem

    message = factory.SubFactory(MessageFactory, status=MessageStatus.REVIEW)
    shop = factory.SelfAttribute("message.shop")
    draft = factory.SubFactory(ReplyFactory, message=factory.SelfAttribute("..message"), source=ReplySource.AI)
    reason = "kb.low_confidence"
    deadline_at = factory.LazyFunction(lambda: timezone.now() + timedelta(minutes=3))


class OutgoingReplyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OutgoingReply

    reply = factory.SubFactory(ReplyFactory)
    message = factory.SelfAttribute("reply.message")
    conversation = factory.SelfAttribute("message.conversation")
    shop = factory.SelfAttribute("message.shop")
    text = factory.SelfAttribute("reply.text")


class ReplyTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReplyTemplate

    code = factory.Sequence(lambda n: f"t{n}")
    text = "亲，稍等，马上为您查询～"
