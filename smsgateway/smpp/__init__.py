"""SMPP channels: the handover from send jobs, the link process, and what arrives on it.

``send job -> handover (Redis stream) -> link process (smpp) -> SMSC``; what the SMSC sends
(inbound SMS, receipts, USSD hops) comes back through the link into the same paths as every
other channel (:mod:`smsgateway.sms.inbound`, :mod:`smsgateway.reports`,
:mod:`smsgateway.ussd`).
"""
