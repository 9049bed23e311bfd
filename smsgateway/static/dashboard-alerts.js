// The Alerts page: a live counter while she types, and the live progress of a running alert.
// The counting rules are menus/encoding.py's; its tables come from the page (#gsm-tables),
// so the server and this script read one alphabet. tests/test_dashboard_browser.py checks
// that both count the same texts the same way.
"use strict";
(function () {
  function tables() {
    const node = document.getElementById("gsm-tables");
    return node ? JSON.parse(node.textContent) : null;
  }

  // measure(text) -> {encoding, length, segments}, as menus.encoding.measure.
  function makeCounter(t) {
    const basic = new Set(t.basic), extension = new Set(t.extension);
    const isGsm = (ch) => basic.has(ch) || extension.has(ch);
    function measure(text) {
      const chars = Array.from(text);
      const gsm = chars.every(isGsm);
      const units = chars.map((ch) => gsm ? (extension.has(ch) ? 2 : 1)
                                           : (ch.codePointAt(0) > 0xFFFF ? 2 : 1));
      const total = units.reduce((a, b) => a + b, 0);
      const single = gsm ? t.single_gsm7 : t.single_ucs2;
      const multi = gsm ? t.multi_gsm7 : t.multi_ucs2;
      if (total <= single) return {encoding: gsm ? "GSM-7" : "UCS-2", length: total,
                                   segments: total ? 1 : 0};
      let segments = 1, used = 0;
      for (const unit of units) {
        if (used + unit > multi) { segments += 1; used = 0; }
        used += unit;
      }
      return {encoding: gsm ? "GSM-7" : "UCS-2", length: total, segments: segments};
    }
    function fold(text) {
      let out = "";
      for (const ch of text) {
        if (isGsm(ch)) out += ch;
        else if (Object.prototype.hasOwnProperty.call(t.folds, ch)) out += t.folds[ch];
        else {
          const base = Array.from(ch.normalize("NFD"))[0];
          out += (base !== ch && basic.has(base)) ? base : ch;
        }
      }
      return out;
    }
    return {measure: measure, fold: fold};
  }

  // menus.numbers.money: half up to the centime, no decimals when whole, then the currency.
  function money(value, decimal, currency) {
    const cents = Math.round(value * 100 + 1e-9);
    let written = cents % 100 === 0 ? String(cents / 100) : (cents / 100).toFixed(2);
    if (decimal !== ".") written = written.replace(".", decimal);
    return written + " " + currency;
  }

  function setupCompose(form, counter) {
    const words = JSON.parse(document.getElementById("counter-words").textContent);
    const price = parseFloat(form.dataset.price || "0");
    const areas = Array.from(form.querySelectorAll("textarea[data-lang]"));
    const foldBox = document.getElementById("fold");
    let byLanguage = null;  // members per language, from the server

    // Which text a member of `lang` reads (smsgateway.broadcasts.audience.Renderer).
    function languageFor(lang, texts) {
      if (texts[lang]) return lang;
      const fallback = form.dataset.defaultLanguage;
      if (texts[fallback]) return fallback;
      return areas.map((a) => a.dataset.lang).find((l) => texts[l]);
    }

    function update() {
      const texts = {};
      areas.forEach((a) => {
        const text = a.value.replace(/\r\n/g, "\n").trim();
        if (text) texts[a.dataset.lang] = foldBox && foldBox.checked ? counter.fold(text) : text;
      });
      const readers = {};
      if (byLanguage) {
        Object.keys(byLanguage).forEach((lang) => {
          const used = languageFor(lang, texts);
          if (used) readers[used] = (readers[used] || 0) + byLanguage[lang];
        });
      }
      let totalCost = 0, totalMembers = 0;
      areas.forEach((a) => {
        const lang = a.dataset.lang, out = document.getElementById("count-" + lang);
        const text = texts[lang];
        if (!text) { out.textContent = ""; out.removeAttribute("data-segments"); return; }
        const m = counter.measure(text);
        const members = readers[lang] || 0, cost = m.segments * price * members;
        totalCost += cost; totalMembers += members;
        out.dataset.segments = m.segments; out.dataset.encoding = m.encoding;
        out.dataset.characters = m.length;
        let line = m.length + " " + words.chars + " · " + m.encoding + " · " + m.segments + " " +
                   words.segments;
        if (byLanguage) line += " · " + members + " " + words.members + " · " +
                                money(cost, form.dataset.decimal, form.dataset.currency);
        out.textContent = line;
      });
      const total = document.getElementById("count-total");
      total.dataset.members = totalMembers;
      total.textContent = byLanguage ? totalMembers + " " + words.members + " · " +
        money(totalCost, form.dataset.decimal, form.dataset.currency) : "";
    }

    let pending = null;
    function refreshAudience() {
      const params = new URLSearchParams();
      form.querySelectorAll("#audience input:checked").forEach((i) => params.append(i.name, i.value));
      const url = form.dataset.audienceUrl + "?" + params.toString();
      if (pending) pending.abort();
      pending = new AbortController();
      fetch(url, {credentials: "same-origin", signal: pending.signal})
        .then((r) => r.ok ? r.json() : null)
        .then((data) => { if (data) { byLanguage = data.by_language; update(); } })
        .catch(() => {});
    }
    areas.forEach((a) => a.addEventListener("input", update));
    if (foldBox) foldBox.addEventListener("change", update);
    form.querySelectorAll("#audience input").forEach((i) => i.addEventListener("change", refreshAudience));
    update();
    refreshAudience();
  }

  function setupProgress(box) {
    function show(data) {
      box.querySelectorAll("[data-field]").forEach((node) => {
        const value = data[node.dataset.field];
        if (value !== undefined) node.textContent = value;
      });
      box.querySelectorAll("[data-bar]").forEach((rect) => {
        const total = Math.max(data.recipients, 1);
        rect.setAttribute("width", String(100 * (data[rect.dataset.bar] || 0) / total));
      });
      box.dataset.status = data.status;
      if (data.finished) {
        document.querySelectorAll(".while-running").forEach((n) => n.remove());
      } else {
        setTimeout(poll, 2000);
      }
    }
    function poll() {
      fetch(box.dataset.url, {credentials: "same-origin"})
        .then((r) => r.ok ? r.json() : null)
        .then((data) => { if (data) show(data); else setTimeout(poll, 5000); })
        .catch(() => setTimeout(poll, 5000));
    }
    if (box.dataset.finished !== "1") setTimeout(poll, 1000);
  }

  const t = tables();
  if (t) {
    const counter = makeCounter(t);
    window.smsCounter = counter;  // the browser test compares it with the server's
    const form = document.getElementById("compose");
    if (form) setupCompose(form, counter);
  }
  const box = document.getElementById("progress");
  if (box) setupProgress(box);
})();
