"""The Orders, Votes and Audit pages, and an administrator switching cooperative."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from dashboard_support import login, post, token
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from smsgateway.db import utcnow
from smsgateway.models import (
    Account,
    AccountRole,
    AuditLog,
    Channel,
    Cooperative,
    Member,
    Order,
    OrderStatus,
    Resolution,
    Vote,
)
from smsgateway.security import hash_password
from smsgateway.services import audit
from smsgateway.services.members import add_member
from smsgateway.services.votes import cast_vote


def test_orders_are_listed_filtered_and_decided_from_their_page(
    signed_in: FlaskClient, session: Session
) -> None:
    order = session.scalars(select(Order)).one()
    page = signed_in.get("/dashboard/orders").get_data(as_text=True)
    assert f'id="order-row-{order.id}"' in page and "Épicerie Bio Agadir" in page
    assert f'id="order-row-{order.id}"' not in signed_in.get(
        "/dashboard/orders?status=confirmed").get_data(as_text=True)
    page = post(signed_in, f"/dashboard/orders/{order.id}/confirm", next="/dashboard/orders")
    assert "<h1>Commandes</h1>" in page and "confirmée" in page
    session.expire_all()
    assert session.get(Order, order.id).status == OrderStatus.CONFIRMED


def test_votes_show_turnout_and_results(signed_in: FlaskClient, session: Session,
                                        demo: Any) -> None:
    resolution = session.scalars(select(Resolution)).first()
    if resolution is None:
        resolution = Resolution(cooperative_id=demo.id, titles={"fr": "Presse ?"},
                                choices={"fr": ["Oui", "Non"]}, voter_groups=[],
                                closes_at=utcnow() + timedelta(days=2))
        session.add(resolution)
        session.flush()
    members = session.scalars(select(Member).where(Member.cooperative_id == demo.id)).all()
    session.query(Vote).filter(Vote.resolution_id == resolution.id).delete()
    session.add_all([Vote(resolution_id=resolution.id, member_id=m.id, choice=c, channel="ussd")
                     for m, c in zip(members[:3], (0, 0, 1), strict=True)])
    session.commit()
    page = signed_in.get("/dashboard/votes").get_data(as_text=True)
    assert f'id="resolution-{resolution.id}"' in page
    assert "3 votes sur 4 votantes (75 %)" in page


def test_an_open_votes_results_follow_the_votes_as_json(
    signed_in: FlaskClient, session: Session, demo: Any
) -> None:
    resolution = Resolution(cooperative_id=demo.id, titles={"fr": "Presse ?", "ar": "معصرة؟"},
                            choices={"fr": ["Oui", "Non"], "ar": ["نعم", "لا"]},
                            voter_groups=[], quorum_percent=50,
                            closes_at=utcnow() + timedelta(days=2))
    session.add(resolution)
    session.commit()
    url = f"/dashboard/votes/{resolution.id}/results"
    page = signed_in.get("/dashboard/votes").get_data(as_text=True)
    assert f'data-url="{url}" data-closed="0"' in page and "dashboard-votes.js" in page
    before = signed_in.get(url).get_json()
    assert (before["voted"], before["eligible"], before["closed"]) == (0, 4, False)
    assert before["turnout"] == "0 votes sur 4 votantes (0 %)"
    assert before["quorum"] == "quorum de 50 % pas encore atteint"
    members = session.scalars(select(Member).where(Member.cooperative_id == demo.id)
                              .order_by(Member.id)).all()
    for member, choice in zip(members[:3], (1, 0, 1), strict=True):
        cast_vote(session, member, resolution, choice, Channel.SMS)
    session.commit()
    after = signed_in.get(url).get_json()
    assert after["voted"] == 3 and after["turnout"] == "3 votes sur 4 votantes (75 %)"
    assert after["quorum"] == "quorum de 50 % atteint"
    assert [(c["label"], c["count"], c["width"]) for c in after["choices"]] == [
        ("Oui", "1", 50.0), ("Non", "2", 100.0)]
    # The page drawn without a script says the same.
    page = signed_in.get("/dashboard/votes").get_data(as_text=True)
    assert "3 votes sur 4 votantes (75 %)" in page and '<b data-count>2</b>' in page
    post(signed_in, "/dashboard/language", lang="ar", next="/dashboard/votes")
    arabic = signed_in.get(url).get_json()
    assert arabic["choices"][0]["label"] == "نعم" and arabic["state"] == "مفتوح"
    assert arabic["turnout"] == "3 صوتًا من 4 مصوِّتة (75 %)"
    # Closed: the page stops polling it.
    resolution.closes_at = utcnow() - timedelta(minutes=1)
    session.commit()
    assert signed_in.get(url).get_json()["closed"] is True
    assert f'data-url="{url}" data-closed="1"' in signed_in.get(
        "/dashboard/votes").get_data(as_text=True)


def test_another_cooperatives_vote_is_not_found(
    signed_in: FlaskClient, client: FlaskClient, session: Session, demo: Any
) -> None:
    other = Cooperative(slug="autre6", name="Autre")
    session.add(other)
    session.flush()
    theirs = Resolution(cooperative_id=other.id, titles={"fr": "Secret"},
                        choices={"fr": ["Oui", "Non"]}, voter_groups=[],
                        closes_at=utcnow() + timedelta(days=2))
    session.add(theirs)
    session.commit()
    assert signed_in.get(f"/dashboard/votes/{theirs.id}/results").status_code == 404
    assert signed_in.get(f"/dashboard/votes/{theirs.id + 999}/results").status_code == 404
    assert "Secret" not in signed_in.get("/dashboard/votes").get_data(as_text=True)
    post(signed_in, "/dashboard/logout")
    assert client.get(f"/dashboard/votes/{theirs.id}/results").status_code == 302


def test_audit_filters_by_channel_and_hides_other_cooperatives(
    signed_in: FlaskClient, session: Session, demo: Any
) -> None:
    other = Cooperative(slug="autre4", name="Autre")
    session.add(other)
    session.flush()
    audit.record(session, "member.secret", "member", 1, channel="web", actor_label="them",
                 cooperative_id=other.id)
    audit.record(session, "member.add", "member", 2, channel="cli", actor_label="operator",
                 cooperative_id=demo.id, details={"name": "<script>x</script>"})
    audit.record(session, "join.request", "join_request", 3, channel="ussd",
                 actor_label="+212677777777", cooperative_id=demo.id)
    session.commit()
    page = signed_in.get("/dashboard/audit").get_data(as_text=True)
    assert "member.secret" not in page and "member.add" in page and "join.request" in page
    assert "<script>x</script>" not in page
    cli = signed_in.get("/dashboard/audit?channel=cli").get_data(as_text=True)
    assert 'data-channel="cli"' in cli and 'data-channel="ussd"' not in cli
    joins = signed_in.get("/dashboard/audit?action=join.").get_data(as_text=True)
    assert "join.request" in joins and "member.add" not in joins
    assert session.scalar(select(AuditLog).where(AuditLog.action == "member.secret"))


def test_an_administrator_switches_cooperative_and_a_coordinator_cannot(
    client: FlaskClient, session: Session, demo: Any
) -> None:
    other = Cooperative(slug="autre5", name="Coopérative Amal")
    session.add(other)
    session.flush()
    add_member(session, other, "+212622222222", name="Amal member", region="MA")
    session.add(Account(phone="+212633333333", name="Admin", role=AccountRole.ADMINISTRATOR,
                        password_hash=hash_password("admin-password-1")))
    session.commit()
    # The coordinator: neither ?coop= nor the switch shows another cooperative.
    login(client)
    assert "Amal member" not in client.get(
        f"/dashboard/members?coop={other.id}").get_data(as_text=True)
    client.post("/dashboard/cooperative", data={
        "coop": other.id, "csrf_token": token(client, "/dashboard")})
    assert "Amal member" not in client.get("/dashboard/members").get_data(as_text=True)
    post(client, "/dashboard/logout")
    # The administrator picks it, and it is kept from page to page.
    login(client, "+212633333333", "admin-password-1")
    page = post(client, "/dashboard/cooperative", coop=str(other.id), next="/dashboard/members")
    assert "Amal member" in page and "Coopérative Amal" in page
    assert "Amal member" in client.get("/dashboard/members").get_data(as_text=True)
    assert "Fatima" not in client.get("/dashboard/members").get_data(as_text=True)


def test_every_page_answers_in_every_language(signed_in: FlaskClient) -> None:
    pages = ["/dashboard", "/dashboard/alerts", "/dashboard/alerts/new", "/dashboard/members",
             "/dashboard/products", "/dashboard/orders", "/dashboard/votes", "/dashboard/audit",
             "/dashboard/channels"]
    for lang in ("fr", "ar", "en"):
        post(signed_in, "/dashboard/language", lang=lang, next="/dashboard")
        for path in pages:
            response = signed_in.get(path)
            assert response.status_code == 200, (lang, path)
            body = response.get_data()
            assert f'lang="{lang}"'.encode() in body and len(body) < 150 * 1024, (lang, path)


def test_pages_need_a_signed_in_account(client: FlaskClient, demo: Any) -> None:
    for path in ("/dashboard/orders", "/dashboard/votes", "/dashboard/audit",
                 "/dashboard/products", "/dashboard/members", "/dashboard/members/export.csv"):
        assert client.get(path).status_code == 302, path
