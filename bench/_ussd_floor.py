"""The floor for bench/ussd.py: a Flask app that only reads and writes one Redis key per hop."""

from __future__ import annotations

import os

import redis
from flask import Flask, Response, request

app = Flask(__name__)
client = redis.Redis.from_url(os.environ["REDIS_URL"])


@app.post("/webhooks/africastalking/ussd")
def hop() -> Response:
    """Read the session's key, write it back with the new text, answer a fixed screen."""
    key = f"floor:{request.form.get('sessionId', '')}"
    client.get(key)
    client.set(key, request.form.get("text", ""), ex=240)
    return Response("CON Bonjour\n1 Stock\n2 Livrer", mimetype="text/plain")
