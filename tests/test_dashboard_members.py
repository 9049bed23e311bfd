"""The Members page: search, paging, PIN codes, CSV import, join requests; only her own."""

from __future__ import annotations

import io
from typing import Any

from dashboard_support import post, token
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from smsgateway.models import (
    Channel,
    Cooperative,
    JoinRequest,
    JoinRequestStatus,
    Member,
    OutboundMessage,
)
from smsgateway.redisconn import get_redis
from smsgateway.services import pins
from smsgateway.services.joins import request_join
from smsgateway.services.members import add_member

CSV = ("phone,name,language,role,groups\n0612345678,Zahra <b>,ar,,Tafraout\n"
       "123,Bad,fr,,\n0612345679,Hanane,fr,,\n")


def test_members_are_listed_searched_and_paged(signed_in: FlaskClient, session: Session,
                                               demo: Any) -> None:
    page = signed_in.get("/dashboard/members").get_data(as_text=True)
    assert "4 membres" in page and "Khadija Oubella" in page and "Arabe" in page
    found = signed_in.get("/dashboard/members?q=khadija").get_data(as_text=True)
    assert "Khadija Oubella" in found and "Itto Amzil" not in found
    for n in range(30):
        add_member(session, demo, f"+2126100000{n:02d}", name=f"Zz {n:02d}", region="MA")
    session.commit()
    second = signed_in.get("/dashboard/members?page=2").get_data(as_text=True)
    assert "Page 2 sur 2" in second and "Zz 29" in second


def test_csv_import_reports_rejected_lines_and_escapes_names(signed_in: FlaskClient,
                                                             session: Session) -> None:
    response = signed_in.post("/dashboard/members/import", data={
        "csrf_token": token(signed_in, "/dashboard/members"),
        "file": (io.BytesIO(CSV.encode()), "members.csv")}, content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "2 ajoutés, 0 modifiés, 0 inchangés, 1 refusés." in page
    assert "ligne 3" in page and "not a valid number" in page
    listing = signed_in.get("/dashboard/members?q=Zahra").get_data(as_text=True)
    assert "Zahra &lt;b&gt;" in listing and "Zahra <b>" not in listing


def test_an_import_without_a_phone_column_or_not_utf8_is_refused(
    signed_in: FlaskClient,
) -> None:
    for body, said in ((b"name\nX\n", "doit nommer les colonnes"),
                       ("phone\n0612345678,é\n".encode("latin-1"), "UTF-8")):
        page = signed_in.post("/dashboard/members/import", data={
            "csrf_token": token(signed_in, "/dashboard/members"),
            "file": (io.BytesIO(body), "m.csv")}, content_type="multipart/form-data",
            follow_redirects=True).get_data(as_text=True)
        assert said in page


def test_issue_a_pin_code_then_unlock(signed_in: FlaskClient, session: Session, app: Flask,
                                      run_jobs: Any) -> None:
    aicha = session.scalar(select(Member).where(Member.phone == "+212600000004"))
    page = post(signed_in, f"/dashboard/members/{aicha.id}/pin-code", reset="1")
    assert "Code envoyé par SMS à Aicha Bouzid" in page
    run_jobs()
    sms = session.scalars(select(OutboundMessage).where(
        OutboundMessage.to_phone == aicha.phone)).one()
    assert "PIN" in sms.text
    assert f'id="member-{aicha.id}"' in page and 'data-state="code"' in page
    with app.app_context():
        get_redis().set(pins.ATTEMPTS_KEY.format(aicha.phone), 99)
    locked = signed_in.get("/dashboard/members?q=Aicha").get_data(as_text=True)
    assert 'data-state="locked"' in locked
    page = post(signed_in, f"/dashboard/members/{aicha.id}/unlock")
    assert "peut réessayer son PIN" in page and 'data-state="locked"' not in page


def test_accept_a_join_request_creates_and_welcomes_her(
    signed_in: FlaskClient, session: Session, demo: Any, run_jobs: Any
) -> None:
    join, _ = request_join(session, demo, "0677777777", Channel.USSD, "MA")
    session.commit()
    page = signed_in.get("/dashboard/members").get_data(as_text=True)
    assert f'id="join-{join.id}"' in page
    page = post(signed_in, f"/dashboard/joins/{join.id}/accept", name="Naima", language="ar")
    assert "+212677777777 est membre" in page
    run_jobs()
    naima = session.scalar(select(Member).where(Member.phone == "+212677777777"))
    assert naima.name == "Naima" and naima.language == "ar" and naima.cooperative_id == demo.id
    welcome = session.scalars(select(OutboundMessage).where(
        OutboundMessage.to_phone == naima.phone)).one()
    assert welcome.text.startswith("مرحبا Naima")
    assert "déjà été traitée" in post(signed_in, f"/dashboard/joins/{join.id}/refuse",
                                      confirmed="1")


def test_refusing_asks_once_more(signed_in: FlaskClient, session: Session, demo: Any) -> None:
    join, _ = request_join(session, demo, "0688888888", Channel.SMS, "MA")
    session.commit()
    assert "Refuser la demande de" in post(signed_in, f"/dashboard/joins/{join.id}/refuse")
    session.expire_all()
    assert session.get(JoinRequest, join.id).status == JoinRequestStatus.PENDING
    assert "refusée" in post(signed_in, f"/dashboard/joins/{join.id}/refuse", confirmed="1")
    session.expire_all()
    assert session.get(JoinRequest, join.id).status == JoinRequestStatus.DECLINED
    assert session.scalar(select(Member).where(Member.phone == "+212688888888")) is None


def test_another_cooperatives_members_and_requests_are_out_of_reach(
    signed_in: FlaskClient, session: Session, demo: Any
) -> None:
    other = Cooperative(slug="autre", name="Autre")
    session.add(other)
    session.flush()
    stranger = add_member(session, other, "+212699999999", name="Stranger", region="MA")
    join, _ = request_join(session, other, "0699999998", Channel.USSD, "MA")
    session.commit()
    found = signed_in.get("/dashboard/members?q=Stranger").get_data(as_text=True)
    assert f'id="member-{stranger.id}"' not in found and "Aucun membre trouvé." in found
    csrf = token(signed_in, "/dashboard/members")
    for path in (f"/dashboard/members/{stranger.id}/pin-code",
                 f"/dashboard/members/{stranger.id}/unlock",
                 f"/dashboard/joins/{join.id}/accept",
                 f"/dashboard/joins/{join.id}/refuse"):
        response = signed_in.post(path, data={"csrf_token": csrf, "confirmed": "1"})
        assert response.status_code == 404, path
    session.expire_all()
    assert session.get(JoinRequest, join.id).status == JoinRequestStatus.PENDING
    assert not session.scalars(select(OutboundMessage)).all()


def test_member_forms_need_their_csrf_token(signed_in: FlaskClient, session: Session) -> None:
    member = session.scalars(select(Member)).first()
    for path in ("/dashboard/members/import", f"/dashboard/members/{member.id}/pin-code",
                 f"/dashboard/members/{member.id}/unlock", "/dashboard/joins/1/accept"):
        assert signed_in.post(path, data={}).status_code == 400, path
