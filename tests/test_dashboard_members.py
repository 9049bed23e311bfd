"""The Members page: search, paging, PIN codes, CSV import, join requests; only her own."""

from __future__ import annotations

import html
import io
import re
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
    assert "ligne 3" in page and "numéro invalide : « 123 »" in page
    listing = signed_in.get("/dashboard/members?q=Zahra").get_data(as_text=True)
    assert "Zahra &lt;b&gt;" in listing and "Zahra <b>" not in listing


# Saved by a French spreadsheet: a byte order mark, semicolons, titles in capitals.
MESSY = ("\ufeffPhone;Name;Language;Role;Groups\n"
         "0612345601;Zahra;ar;;Tafraout|Argan\n"          # 2: taken
         "123;Bad;fr;;\n"                                 # 3
         "0612345601;Zahra again;ar;;\n"                  # 4
         "0612345602;Hanane;klingon;;\n"                  # 5: taken, in French
         "0612345603;;fr;;\n"                             # 6: taken, nameless
         f"0612345604;{'N' * 201};fr;;\n"                 # 7
         "0612345605;Itto;fr;chief;\n"                    # 8
         f"0612345606;Mina;fr;;{'G' * 101}\n"             # 9
         ";Nameless phone;fr;;\n"                         # 10
         "0612345607;Fatima;fr;;;extra\n"                 # 11
         "0612345608;A\x01b;fr;;\n"                       # 12
         "+33612345678;Nadia;fr;;\n")                     # 13: taken, abroad
REASONS = {
    "fr": {3: "numéro invalide : « 123 »", 4: "+212612345601 déjà à la ligne 2",
           7: "nom de plus de 200 caractères",
           8: "rôle inconnu « chief » (member ou coordinator)",
           9: "nom de groupe de plus de 100 caractères", 10: "pas de numéro de téléphone",
           11: "plus de colonnes que la ligne des titres",
           12: "caractères de contrôle dans le nom ou les groupes (fichier abîmé ?)"},
    "ar": {3: "رقم غير صالح: «123»", 4: "+212612345601 موجود من قبل في السطر 2",
           7: "الاسم أطول من 200 حرف", 8: "دور غير معروف «chief» (member أو coordinator)",
           9: "اسم مجموعة أطول من 100 حرف", 10: "لا يوجد رقم هاتف",
           11: "أعمدة أكثر من سطر العناوين", 12: "رموز تحكم في الاسم أو المجموعات (ملف تالف؟)"},
}
WARNINGS = {
    "fr": {5: "langue « klingon » non comprise : Arabe, la langue de la coopérative",
           6: "sans nom : elle sera montrée par son numéro",
           13: ("+33612345678 est un numéro de FR, pas de MA : chaque SMS lui est facturé au "
                "tarif international")},
    "ar": {5: "لم تُفهم اللغة «klingon»: العربية، لغة التعاونية", 6: "بدون اسم: ستظهر برقم هاتفها",
           13: "+33612345678 رقم من FR وليس من MA: كل رسالة إليه بالسعر الدولي"},
}
LINE = {"fr": "ligne", "ar": "السطر"}


def _listed(page: str, list_id: str, lang: str) -> dict[int, str]:
    found = re.search(f'<ul id="{list_id}">(.*?)</ul>', page, re.S)
    assert found, list_id
    return {int(line): html.unescape(reason) for line, reason in re.findall(
        f'<li>{LINE[lang]} (\\d+) : <span dir="auto">(.*?)</span></li>', found.group(1))}


def test_a_messy_import_says_why_in_her_language(signed_in: FlaskClient, session: Session,
                                                 demo: Any) -> None:
    demo.default_language = "ar"
    session.commit()
    for lang, summary in (("fr", "4 ajoutés, 0 modifiés, 0 inchangés, 8 refusés."),
                          ("ar", "أُضيفت 0، عُدلت 0، بدون تغيير 4، رُفضت 8.")):
        post(signed_in, "/dashboard/language", lang=lang, next="/dashboard/members")
        response = signed_in.post("/dashboard/members/import", data={
            "csrf_token": token(signed_in, "/dashboard/members"),
            "file": (io.BytesIO(MESSY.encode()), "members.csv")},
            content_type="multipart/form-data")
        page = response.get_data(as_text=True)
        assert response.status_code == 200 and summary in page
        assert _listed(page, "rejected", lang) == REASONS[lang]
        assert _listed(page, "warned", lang) == WARNINGS[lang]
    zahra = session.scalar(select(Member).where(Member.phone == "+212612345601"))
    assert zahra.name == "Zahra" and sorted(g.name for g in zahra.groups) == ["Argan", "Tafraout"]
    hanane = session.scalar(select(Member).where(Member.phone == "+212612345602"))
    assert hanane.language == "ar"


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


def test_add_edit_groups_deactivate_and_export(signed_in: FlaskClient, session: Session,
                                               demo: Any) -> None:
    page = post(signed_in, "/dashboard/members/add", phone="0655555555", name="=Salma",
                language="en", groups="Tafraout; nouveaux")
    assert "=Salma ajoutée." in page
    salma = session.scalar(select(Member).where(Member.phone == "+212655555555"))
    assert salma.language == "en" and sorted(g.name for g in salma.groups) == [
        "Tafraout", "nouveaux"]
    assert "Refusé" in post(signed_in, "/dashboard/members/add", phone="0655555555")
    page = post(signed_in, f"/dashboard/members/{salma.id}", name="=Salma B", language="ar",
                role="member", groups="nouveaux")
    assert "Fiche de =Salma B enregistrée." in page
    session.expire_all()
    salma = session.get(Member, salma.id)
    assert (salma.name, salma.language, [g.name for g in salma.groups]) == (
        "=Salma B", "ar", ["nouveaux"])
    assert "Désactiver =Salma B ?" in post(signed_in, f"/dashboard/members/{salma.id}/deactivate")
    session.expire_all()
    assert session.get(Member, salma.id).active
    assert "est désactivée" in post(signed_in, f"/dashboard/members/{salma.id}/deactivate",
                                    confirmed="1")
    session.expire_all()
    assert not session.get(Member, salma.id).active
    export = signed_in.get("/dashboard/members/export.csv")
    assert export.mimetype == "text/csv"
    body = export.get_data(as_text=True)
    assert body.startswith("\ufeffphone,name,language,role,groups,active,has_pin")
    # A name a spreadsheet would run as a formula is written as text; phones stay phones.
    assert "+212655555555,'=Salma B,ar,member,nouveaux,no,no" in body
    assert "+212600000002,Khadija Oubella,ar,member" in body


def test_another_cooperatives_member_cannot_be_edited(signed_in: FlaskClient,
                                                      session: Session) -> None:
    other = Cooperative(slug="autre2", name="Autre")
    session.add(other)
    session.flush()
    stranger = add_member(session, other, "+212699999990", name="Stranger", region="MA")
    session.commit()
    assert signed_in.get(f"/dashboard/members/{stranger.id}").status_code == 404
    csrf = token(signed_in, "/dashboard/members")
    for path in (f"/dashboard/members/{stranger.id}",
                 f"/dashboard/members/{stranger.id}/deactivate"):
        assert signed_in.post(path, data={"csrf_token": csrf, "confirmed": "1",
                                          "name": "pwned"}).status_code == 404
    session.expire_all()
    assert session.get(Member, stranger.id).name == "Stranger"
    assert session.get(Member, stranger.id).active
    assert "Stranger" not in signed_in.get("/dashboard/members/export.csv").get_data(
        as_text=True)


def test_a_code_sent_is_never_shown_on_the_dashboard(signed_in: FlaskClient,
                                                     session: Session) -> None:
    for phone in ("+212600000004", "+212600000002"):  # French and Arabic code SMS
        member = session.scalar(select(Member).where(Member.phone == phone))
        post(signed_in, f"/dashboard/members/{member.id}/pin-code", reset="1")
    session.expire_all()
    sent = session.scalars(select(OutboundMessage)).all()
    assert len(sent) == 2
    page = signed_in.get("/dashboard").get_data(as_text=True)
    for message in sent:
        code = next(word for word in message.text.replace(".", " ").split()
                    if word.isdigit() and len(word) >= 6)
        assert code not in page
