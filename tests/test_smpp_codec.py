"""SMPP encoding, segmentation, inbound parts and receipts (handlers/smpp.py), as tables."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from smpplib import smpp

from handlers import smpp as codec
from handlers.base import DELIVERED, EXPIRED, FAILED, SENT
from menus.encoding import measure

ARABIC = "السلام عليكم، هذا تنبيه من التعاونية: فيضان متوقع غدا في الدوار. "


def joined(parts: list[codec.Part]) -> str:
    out = []
    for part in parts:
        data = part.tlvs.get("message_payload") or part.short_message
        if part.esm_class & codec.ESM_UDHI:
            _, data = codec.read_udh(data)
        out.append(codec.decode(data, part.data_coding))
    return "".join(out)


CASES = {
    "short french is one GSM-7 part": ("Livraison: 5 kg Amlou", 1, codec.GSM7_CODING),
    "160 GSM-7 characters are one part": ("a" * 160, 1, codec.GSM7_CODING),
    "161 are two of 153": ("a" * 161, 2, codec.GSM7_CODING),
    "an escape pair at the cut moves whole": ("a" * 152 + "€" + "b" * 10, 2, codec.GSM7_CODING),
    "arabic is UCS-2": (ARABIC[:60], 1, codec.UCS2_CODING),
    "three-part arabic": (ARABIC * 3, 3, codec.UCS2_CODING),
    "an emoji at the cut is not split": ("ب" * 66 + "🙂" + "ب" * 10, 2, codec.UCS2_CODING),
    "one accent outside GSM-7 makes UCS-2": ("fête " * 20, 2, codec.UCS2_CODING),
}


@pytest.mark.parametrize("text,parts,coding", CASES.values(), ids=CASES.keys())
def test_split(text: str, parts: int, coding: int) -> None:
    out = codec.split(text, reference=7)
    assert len(out) == parts == measure(text).segments
    assert {p.data_coding for p in out} == {coding}
    assert joined(out) == text
    for seq, part in enumerate(out, 1):
        if parts > 1:
            assert part.short_message[:6] == bytes((5, 0, 3, 7, parts, seq))
            assert len(part.short_message) <= 6 + (153 if coding == 0 else 134)


def test_sar_and_payload_modes() -> None:
    text = ARABIC * 3
    sar = codec.split(text, "sar", reference=300)
    assert [p.tlvs["sar_segment_seqnum"] for p in sar] == [1, 2, 3]
    assert {p.tlvs["sar_msg_ref_num"] for p in sar} == {300}
    assert all(p.esm_class == 0 for p in sar) and joined(sar) == text
    payload = codec.split(text, "payload")
    assert len(payload) == 1 and payload[0].short_message == b"" and joined(payload) == text


@given(st.text(alphabet=st.sampled_from(list("ab €[é") + ["ب", "🙂"]), max_size=700))
def test_parts_agree_with_the_broadcast_preview(text: str) -> None:
    parts = codec.split(text)
    assert len(parts) == max(measure(text).segments, 1)
    assert joined(parts) == text


def deliver(**fields: object) -> object:
    """A deliver_sm through smpplib's own codec, as it arrives off the wire."""
    pdu = smpp.make_pdu("deliver_sm", client=codec.Sequencer(), source_addr="212600000002",
                        destination_addr="3838", **fields)
    return codec.parse(pdu.generate())


RECEIPTS = {
    "TLVs win": (dict(esm_class=4, receipted_message_id="1A2B", message_state=2,
                      short_message=b"id:999 stat:UNDELIV err:001"), "1A2B", DELIVERED),
    "text only, decimal id": (dict(esm_class=4, short_message=(
        b"id:6699 sub:001 dlvrd:001 submit date:2612020400 done date:2612020401 "
        b"stat:DELIVRD err:000 text:Bonjour")), "6699", DELIVERED),
    "lower case words": (dict(esm_class=4, short_message=b"id:ab12 Stat:undeliv err:034"),
                         "ab12", FAILED),
    "expired state": (dict(esm_class=4, receipted_message_id="77", message_state=3), "77",
                      EXPIRED),
    "accepted is only sent": (dict(esm_class=4, receipted_message_id="78", message_state=6),
                              "78", SENT),
}


@pytest.mark.parametrize("fields,message_id,status", RECEIPTS.values(), ids=RECEIPTS.keys())
def test_receipts(fields: dict[str, object], message_id: str, status: str) -> None:
    inbound = codec.read_deliver_sm(deliver(**fields))
    assert inbound.receipt is not None
    assert (inbound.receipt.message_id, inbound.receipt.status) == (message_id, status)


def test_id_spellings_match_hex_and_decimal() -> None:
    assert "1a2b" in codec.id_spellings("6699") and "6699" in codec.id_spellings("1A2B")


def test_a_ussd_deliver_sm_keeps_its_op_and_session() -> None:
    # python-smpplib issue 104: without the patch this TLV is unknown to DeliverSM.
    inbound = codec.read_deliver_sm(deliver(short_message=b"*384*123#", ussd_service_op=1,
                                            its_session_info=0x0102, service_type="USSD"))
    assert (inbound.ussd_op, inbound.session, inbound.text) == (1, 0x0102, "*384*123#")


def test_inbound_udh_part_is_read() -> None:
    part = codec.split(ARABIC * 3, reference=9)[1]
    inbound = codec.read_deliver_sm(deliver(esm_class=0x40, data_coding=8,
                                            short_message=part.short_message))
    assert inbound.concat == codec.Concat(9, 3, 2)


def test_dial_text_and_status_names() -> None:
    assert codec.ussd_dial_text("*384*123*1#", "*384*123#") == "1"
    assert codec.ussd_dial_text("*384*123#", "*384*123#") == ""
    assert codec.status_name(0x58) == "ESME_RTHROTTLED"
    assert codec.status_name(0x4FF) == "0x000004FF"


def test_settings_refuse_unknown_keys() -> None:
    with pytest.raises(ValueError, match="windw"):
        codec.SmppConfig.from_settings("iam", {"host": "h", "port": 1, "system_id": "s",
                                               "windw": 3})
