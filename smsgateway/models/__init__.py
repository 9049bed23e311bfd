"""The records the gateway keeps, grouped by domain."""

from .audit import AuditLog

# The record is ``smsgateway.models.channels.Channel``: ``Channel`` here is the older enum of
# how a change reached the gateway (ussd, sms, web...).
from .channels import ChannelState
from .coop import Cooperative, Group, Language, Member, Product, Role, member_groups
from .governance import JoinRequest, JoinRequestStatus, Resolution, Vote
from .messaging import (
    OPTED_OUT_REASON,
    Broadcast,
    BroadcastStatus,
    Channel,
    InboundMessage,
    InboundStatus,
    MessageKind,
    OutboundMessage,
    OutboundStatus,
)
from .stock import (
    Delivery,
    DeliveryStatus,
    MovementReason,
    Order,
    OrderStatus,
    Payment,
    StockMovement,
)

__all__ = [
    "OPTED_OUT_REASON",
    "AuditLog",
    "Broadcast",
    "BroadcastStatus",
    "Channel",
    "ChannelState",
    "Cooperative",
    "Delivery",
    "DeliveryStatus",
    "Group",
    "InboundMessage",
    "InboundStatus",
    "JoinRequest",
    "JoinRequestStatus",
    "Language",
    "Member",
    "MessageKind",
    "MovementReason",
    "Order",
    "OrderStatus",
    "OutboundMessage",
    "OutboundStatus",
    "Payment",
    "Product",
    "Resolution",
    "Role",
    "StockMovement",
    "Vote",
    "member_groups",
]
