// The phone simulator: no framework, a few fetch calls to /simulator/api.
"use strict";
(function () {
  const root = document.querySelector(".sim");
  const api = root.dataset.api;
  const serviceCode = root.dataset.serviceCode;
  const $ = (id) => document.getElementById(id);
  const number = $("number"), screen = $("screen"), entry = $("entry"), state = $("state");
  const measure = $("measure"), log = $("log"), who = $("who"), inbox = $("inbox");
  const POLL_MS = 1500;
  let session = null;          // {id, phone, inputs, hops, started, open, last}
  const sentByPhone = {};      // SMS typed here, shown beside the received ones
  let received = [];
  let inboxPhone = null;

  function phone() { return number.value.trim(); }

  async function call(method, path, body) {
    const options = { method, headers: {} };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(api + path, options);
    let data;
    try { data = await response.json(); } catch (e) { data = { error: "réponse illisible" }; }
    if (!response.ok) throw new Error(data.error || "HTTP " + response.status);
    return data;
  }

  function newSessionId() {
    const bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return "ATUid_sim" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // "*384*123#" -> [], "*384*123*3*1#" -> ["3", "1"], anything else -> null.
  function dialInputs(code) {
    if (code === serviceCode) return [];
    const base = serviceCode.slice(0, -1) + "*";
    if (code.startsWith(base) && code.endsWith("#")) {
      return code.slice(base.length, -1).split("*").filter((part) => part !== "");
    }
    return null;
  }

  function showMeasure(data) {
    measure.textContent = data.encoding + " · " + data.length + "/" + data.limit +
      " caractères" + (data.level === "over" ? " · TROP LONG" : data.level === "near" ? " · proche de la limite" : "");
    measure.className = "measure " + data.level;
    measure.dataset.length = data.length;
    measure.dataset.encoding = data.encoding;
  }

  function idle(message) {
    session = null;
    screen.className = "";
    screen.textContent = message || "Composez " + serviceCode + "\npuis appuyez sur ✆";
    entry.value = serviceCode;
    state.textContent = "prêt";
  }

  async function hop() {
    const text = session.inputs.join("*");
    state.textContent = "…";
    let data;
    try {
      data = await call("POST", "/ussd", { phone: session.phone, session_id: session.id, text });
    } catch (error) {
      session.open = false;
      screen.className = "error";
      screen.textContent = "Erreur : " + error.message;
      state.textContent = "erreur";
      return;
    }
    session.hops += 1;
    session.last = data.text;
    showMeasure(data);
    entry.value = "";
    if (data.kind === "CON") {
      screen.className = "";
      screen.textContent = data.text;
      state.textContent = "session ouverte";
      entry.focus();
      return;
    }
    session.open = false;
    if (data.kind === "END") {
      screen.className = "ended";
      screen.textContent = data.text;
      state.textContent = "session terminée";
    } else {
      screen.className = "error";
      screen.textContent = "Problème de connexion ou code MMI invalide (HTTP " + data.status + ")";
      state.textContent = "erreur";
    }
    await endSession(data.kind === "END" ? "Success" : "Failed", text);
  }

  async function endSession(status, lastInput) {
    if (!session) return;
    try {
      await call("POST", "/ussd/end", {
        phone: session.phone, session_id: session.id, status, hops: session.hops,
        input: lastInput || "", last_response: session.last || "",
        duration_ms: Date.now() - session.started,
      });
    } catch (error) { log.textContent = "Fin de session non transmise : " + error.message; }
  }

  async function pressCall() {
    log.textContent = "";
    if (session && session.open) {
      session.inputs.push(entry.value.trim());
      await hop();
      return;
    }
    if (session && !session.open) { idle(); return; }
    const inputs = dialInputs(entry.value.trim());
    if (inputs === null) {
      screen.className = "error";
      screen.textContent = "Code USSD inconnu : " + entry.value + "\nComposez " + serviceCode;
      return;
    }
    if (!phone()) { log.textContent = "Choisissez un numéro."; return; }
    session = { id: newSessionId(), phone: phone(), inputs, hops: 0, started: Date.now(), open: true, last: "" };
    who.textContent = session.phone;
    await hop();
  }

  async function pressHangup() {
    if (session && session.open) {
      session.open = false;
      await endSession("Incomplete", session.inputs.join("*"));
    }
    idle();
  }

  function render() {
    const p = phone();
    const sent = (sentByPhone[p] || []).map((m) => ({ ...m, sent: true }));
    const all = received.concat(sent).sort((a, b) => (a.at < b.at ? 1 : -1));
    inbox.replaceChildren();
    if (!all.length) {
      const li = document.createElement("li");
      li.className = "empty";
      li.textContent = "Aucun message.";
      inbox.append(li);
      return;
    }
    for (const m of all) {
      const li = document.createElement("li");
      li.className = m.sent ? "sent" : "received";
      if (!m.sent) { li.dataset.id = m.id; li.dataset.status = m.status; }
      const meta = document.createElement("span");
      meta.className = "meta";
      // Received: the time the server wrote in the cooperative's zone, not the browser's.
      const when = m.local || new Date(m.at).toLocaleTimeString("fr-FR");
      meta.textContent = m.sent ? "moi · " + when
        : when + " · " + m.kind + " · " + m.encoding + " · " + m.segments + " SMS · " + m.provider +
          " · " + m.status;
      const body = document.createElement("span");
      body.className = "body";
      body.dir = "auto";
      body.textContent = m.text;
      li.append(meta, body);
      inbox.append(li);
    }
  }

  async function poll() {
    const p = phone();
    try {
      const data = await call("GET", "/inbox?phone=" + encodeURIComponent(p));
      if (p === phone()) {
        // A status moving on (sent -> delivered) changes the list too.
        const key = (list) => list.map((m) => m.id + ":" + m.status).join(",");
        const changed = inboxPhone !== p || key(data.messages) !== key(received);
        received = data.messages;
        inboxPhone = p;
        if (changed) render();
      }
    } catch (error) {
      if (inboxPhone !== p) { received = []; inboxPhone = p; render(); }
    }
    setTimeout(poll, POLL_MS);
  }

  $("sms-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = $("sms-text").value;
    const status = $("sms-measure");
    try {
      const channel = $("sms-channel").value;
      const body = { phone: phone(), text };
      // An Android channel: the simulator plays its phone (a signed sms:received webhook).
      if (channel) body.channel = parseInt(channel, 10);
      const data = await call("POST", "/sms", body);
      (sentByPhone[phone()] = sentByPhone[phone()] || []).push({ text, at: new Date().toISOString() });
      status.textContent = data.status === 200 ? "SMS envoyé." : "Le webhook a répondu HTTP " + data.status;
      $("sms-text").value = "";
      render();
    } catch (error) { status.textContent = "Erreur : " + error.message; }
  });

  for (const key of document.querySelectorAll(".key")) {
    key.addEventListener("click", () => { entry.value += key.dataset.key; entry.focus(); });
  }
  for (const pick of document.querySelectorAll(".pick")) {
    pick.addEventListener("click", async () => {
      await pressHangup();
      number.value = pick.dataset.phone;
      who.textContent = number.value;
      received = []; inboxPhone = null; render();
    });
  }
  number.addEventListener("change", () => { who.textContent = phone(); received = []; inboxPhone = null; render(); });
  $("clear").addEventListener("click", () => { entry.value = entry.value.slice(0, -1); });
  $("call").addEventListener("click", pressCall);
  $("hangup").addEventListener("click", pressHangup);
  entry.addEventListener("keydown", (event) => { if (event.key === "Enter") { event.preventDefault(); pressCall(); } });
  who.textContent = phone();
  poll();
})();
