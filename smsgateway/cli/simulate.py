"""``smsgateway simulate --phone NUMBER``: the phone simulator in a terminal.

It plays Africa's Talking against a running gateway: USSD hops and inbound SMS go to the real
webhooks in the provider's form format; the inbox comes from the simulator's JSON endpoint.
With ``--channel ID`` its SMS go in as that Android channel's phone (the simulator signs the
app's ``sms:received`` with the channel's key: the terminal never holds it).
"""

from __future__ import annotations

import sys
import threading
import time
import uuid
from typing import Any, TextIO

import click
import requests
from flask import current_app
from flask.cli import with_appcontext

from ..phones import try_normalize
from ..simulator.relay import (
    DEFAULT_SHORT_CODE,
    NETWORK_CODE,
    SMS_PATH,
    USSD_EVENTS_PATH,
    USSD_PATH,
    Screen,
    new_session_id,
    read_screen,
)

POLL_SECONDS = 1.0
WAIT_SECONDS = 60.0
TIMEOUT = 15
HELP = """\
Commandes :
  dial [CODE]      composer le code USSD ({code} par défaut, ou avec les réponses : *384*123*1#)
  (en session)     taper la réponse puis Entrée ; « hangup » raccroche
  sms TEXTE        envoyer un SMS à la passerelle (ex. : sms STOCK)
  inbox            afficher les SMS reçus
  wait [SECONDES]  attendre le prochain SMS reçu
  help, quit"""


class Terminal:
    """One simulated phone talking to a gateway at ``base_url``."""

    def __init__(self, base_url: str, phone: str, *, secret: str | None,
                 password: str | None, out: TextIO, channel: int | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.phone = phone
        self.channel = channel
        self.secret = secret
        self.out = out
        self.http = requests.Session()
        if password:
            self.http.auth = ("simulator", password)
        self.service_code = ""
        self.short_code = DEFAULT_SHORT_CODE
        self.session_id: str | None = None
        self.inputs: list[str] = []
        self.hops = 0
        self.started = 0.0
        self.seen: dict[int, dict[str, Any]] = {}
        self.unread = 0
        self.arrived = threading.Condition()
        self.stopping = threading.Event()
        self.lock = threading.Lock()

    def say(self, text: str) -> None:
        """Print a block without interleaving with the inbox thread."""
        with self.lock:
            self.out.write(text + "\n")
            self.out.flush()

    def _webhook(self, path: str, form: dict[str, str]) -> requests.Response:
        params = {"secret": self.secret} if self.secret else None
        return self.http.post(self.base_url + path, params=params, data=form, timeout=TIMEOUT)

    # USSD -----------------------------------------------------------------------------------

    def dial(self, code: str) -> None:
        """Start a session with ``code`` (the service code, possibly with answers in it)."""
        code = code or self.service_code
        base = self.service_code[:-1] + "*"
        if code == self.service_code:
            inputs = []
        elif code.startswith(base) and code.endswith("#"):
            inputs = [part for part in code[len(base):-1].split("*") if part]
        else:
            self.say(f"Code USSD inconnu : {code} (composez {self.service_code})")
            return
        self.session_id, self.inputs, self.hops = new_session_id(), inputs, 0
        self.started = time.monotonic()
        self._hop()

    def answer(self, text: str) -> None:
        """Send the next input of the open session."""
        self.inputs.append(text)
        self._hop()

    def _hop(self) -> None:
        assert self.session_id is not None
        text = "*".join(self.inputs)
        response = self._webhook(USSD_PATH, {
            "sessionId": self.session_id, "serviceCode": self.service_code,
            "phoneNumber": self.phone, "networkCode": NETWORK_CODE, "text": text,
        })
        screen = read_screen(response.status_code, response.text)
        self.hops += 1
        self.say(render_screen(screen))
        if screen.kind != "CON":
            self._end("Success" if screen.kind == "END" else "Failed", text, screen.text)

    def hangup(self) -> None:
        """Leave the open session."""
        if self.session_id is not None:
            self._end("Incomplete", "*".join(self.inputs), "")
            self.say("(raccroché)")

    def _end(self, status: str, last_input: str, last_response: str) -> None:
        session_id, self.session_id = self.session_id, None
        self._webhook(USSD_EVENTS_PATH, {
            "date": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
            "sessionId": session_id or "", "serviceCode": self.service_code,
            "networkCode": NETWORK_CODE, "phoneNumber": self.phone, "status": status,
            "cost": "0", "durationInMillis": str(int((time.monotonic() - self.started) * 1000)),
            "hopsCount": str(self.hops), "input": last_input, "lastAppResponse": last_response,
            "errorMessage": "",
        })

    # SMS ------------------------------------------------------------------------------------

    def send_sms(self, text: str) -> None:
        """Send an SMS from the phone to the gateway."""
        if not text.strip():
            self.say("SMS vide : écrivez par exemple « sms STOCK ».")
            return
        if self.channel is not None:
            self._send_as_phone(text)
            return
        response = self._webhook(SMS_PATH, {
            "from": self.phone, "to": self.short_code, "text": text,
            "date": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
            "id": f"sim-{uuid.uuid4()}", "networkCode": NETWORK_CODE,
        })
        if response.status_code == 200:
            self.say("SMS envoyé.")
        else:
            self.say(f"SMS refusé par la passerelle (HTTP {response.status_code}).")

    def _send_as_phone(self, text: str) -> None:
        response = self.http.post(f"{self.base_url}/simulator/api/sms", timeout=TIMEOUT,
                                  json={"phone": self.phone, "text": text,
                                        "channel": self.channel})
        data = _json(response)
        if response.status_code == 200 and data.get("status") == 200:
            self.say("SMS envoyé.")
        elif response.status_code == 200:
            self.say(f"SMS refusé par la passerelle (HTTP {data.get('status')}).")
        else:
            self.say(f"SMS refusé : {data.get('error') or response.status_code}")

    def fetch_inbox(self) -> list[dict[str, Any]]:
        """The latest messages the gateway sent to this phone."""
        response = self.http.get(f"{self.base_url}/simulator/api/inbox",
                                 params={"phone": self.phone}, timeout=TIMEOUT)
        response.raise_for_status()
        return response.json()["messages"]

    def poll_once(self) -> None:
        """Print messages not seen yet."""
        fresh = [m for m in self.fetch_inbox() if m["id"] not in self.seen]
        for message in fresh:
            self.seen[message["id"]] = message
            self.say(render_sms(message))
        if fresh:
            with self.arrived:
                self.unread += len(fresh)
                self.arrived.notify_all()

    def _poll_forever(self) -> None:
        while not self.stopping.wait(POLL_SECONDS):
            try:
                self.poll_once()
            except (requests.RequestException, ValueError, KeyError):
                pass  # the server restarting is no reason to stop the phone

    def wait(self, seconds: float) -> None:
        """Block until a message arrives that no earlier ``wait`` has returned for."""
        with self.arrived:
            if not self.arrived.wait_for(lambda: self.unread > 0, timeout=seconds):
                self.say(f"(aucun nouveau SMS en {seconds:g} s)")
            self.unread = 0

    # The loop -------------------------------------------------------------------------------

    def connect(self) -> None:
        """Read the server's simulator settings and the messages already received."""
        response = self.http.get(f"{self.base_url}/simulator/api/config", timeout=TIMEOUT)
        if response.status_code == 404:
            raise click.ClickException(
                "le simulateur est désactivé sur ce serveur (simulator.enabled: false)")
        if response.status_code == 401:
            raise click.ClickException("mot de passe du simulateur requis (SIMULATOR_PASSWORD)")
        response.raise_for_status()
        config = response.json()
        self.service_code = config["service_code"]
        phones = {c["id"]: c for c in config.get("android_channels", [])}
        if self.channel is not None and self.channel not in phones:
            raise click.ClickException(
                f"aucun canal Android {self.channel} sur ce serveur (smsgateway channels list)")
        for message in self.fetch_inbox():
            self.seen[message["id"]] = message

    def run(self, lines: TextIO) -> None:
        """Read commands until ``quit`` or the end of input."""
        by = f", SMS par le canal Android {self.channel}" if self.channel is not None else ""
        self.say(f"Téléphone {self.phone} sur {self.base_url} ({len(self.seen)} SMS déjà "
                 f"reçus{by})\n" + HELP.format(code=self.service_code))
        poller = threading.Thread(target=self._poll_forever, daemon=True)
        poller.start()
        try:
            for raw in iter(lambda: self._prompt(lines), ""):
                if not self.handle(raw.strip()):
                    break
        finally:
            if self.session_id is not None:
                self.hangup()
            self.stopping.set()
            poller.join(timeout=5)

    def _prompt(self, lines: TextIO) -> str:
        with self.lock:
            self.out.write("ussd> " if self.session_id else "> ")
            self.out.flush()
        return lines.readline()

    def handle(self, line: str) -> bool:
        """Run one command; False to stop."""
        word, _, rest = line.partition(" ")
        command = word.lower()
        if command in ("quit", "exit", "q"):
            return False
        if self.session_id is not None:
            if command in ("hangup", "raccrocher"):
                self.hangup()
            else:
                self.answer(line)
            return True
        if command == "dial" or (line.startswith("*") and line.endswith("#")):
            self.dial(rest.strip() if command == "dial" else line)
        elif command == "sms":
            self.send_sms(rest)
        elif command == "inbox":
            for message in self.seen.values():
                self.say(render_sms(message))
            if not self.seen:
                self.say("Aucun SMS reçu.")
        elif command == "wait":
            try:
                seconds = float(rest) if rest.strip() else WAIT_SECONDS
            except ValueError:
                seconds = WAIT_SECONDS
            self.wait(seconds)
        elif command in ("help", "?", ""):
            if command:
                self.say(HELP.format(code=self.service_code))
        else:
            self.say(f"Commande inconnue : {word} (help pour la liste)")
        return True


def render_screen(screen: Screen) -> str:
    """A USSD screen as a box, with its encoding and length against the limit."""
    flag = {"over": "  TROP LONG", "near": "  proche de la limite"}.get(screen.level, "")
    if screen.kind == "ERROR":
        title = f"session coupée par le réseau (HTTP {screen.http_status})"
        body = screen.text[:200]
    else:
        title = (f"{screen.kind} · {screen.encoding} · {screen.length}/{screen.limit} "
                 f"caractères{flag}")
        body = screen.text
    lines = [f"┌─ {title}"] + [f"│ {line}" for line in body.split("\n")] + ["└─"]
    return "\n".join(lines)


def render_sms(message: dict[str, Any]) -> str:
    """One received SMS."""
    when = f"{message['local']} · " if message.get("local") else ""
    return (f"[SMS reçu #{message['id']} · {when}{message['kind']} · {message['encoding']} · "
            f"{message['segments']} SMS] {message['text']}")


@click.command("simulate")
@click.option("--phone", required=True, help="The number the phone dials from.")
@click.option("--url", default=None, help="The gateway (default http://127.0.0.1:PORT).")
@click.option("--channel", type=int, default=None,
              help="Send SMS as this Android channel's phone (see `smsgateway channels list`).")
@with_appcontext
def simulate_command(phone: str, url: str | None, channel: int | None) -> None:
    """A feature phone in the terminal: dial the USSD code, send SMS, read replies."""
    settings = current_app.config["SETTINGS"]
    number = try_normalize(phone, settings.defaults.region)
    if number is None:
        raise click.BadParameter(f"not a phone number: {phone}", param_hint="--phone")
    terminal = Terminal(url or f"http://127.0.0.1:{settings.server.port}", number,
                        secret=settings.africastalking.webhook_secret,
                        password=settings.simulator.password, out=sys.stdout,
                        channel=channel)
    if settings.africastalking.sender:
        terminal.short_code = settings.africastalking.sender
    try:
        terminal.connect()
    except requests.RequestException as error:
        raise click.ClickException(
            f"cannot reach {terminal.base_url} ({type(error).__name__}): is make run running?"
        ) from None
    terminal.run(sys.stdin)


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
