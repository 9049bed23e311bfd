// The Votes page: while a vote is open, its turnout and results follow the votes as they come
// (the JSON of /dashboard/votes/ID/results, the figures the server drew the page with).
"use strict";
(function () {
  const EVERY = 5000, AFTER_ERROR = 15000;

  function show(box, data) {
    box.querySelector("[data-field=state]").textContent = data.state;
    box.querySelector("[data-field=turnout]").textContent = data.turnout;
    box.querySelector("[data-field=quorum]").textContent = data.quorum ? " · " + data.quorum : "";
    data.choices.forEach((choice, i) => {
      const row = box.querySelector('[data-choice="' + i + '"]');
      if (!row) return;
      row.querySelector("[data-count]").textContent = choice.count;
      row.querySelector("[data-bar]").setAttribute("width", String(choice.width));
    });
    box.dataset.closed = data.closed ? "1" : "0";
  }

  function follow(box) {
    function poll() {
      fetch(box.dataset.url, {credentials: "same-origin"})
        .then((r) => r.ok ? r.json() : null)
        .then((data) => {
          if (!data) { setTimeout(poll, AFTER_ERROR); return; }
          show(box, data);
          if (!data.closed) setTimeout(poll, EVERY);
        })
        .catch(() => setTimeout(poll, AFTER_ERROR));
    }
    setTimeout(poll, EVERY);
  }

  document.querySelectorAll("section.vote[data-url]").forEach((box) => {
    if (box.dataset.closed !== "1") follow(box);
  });
})();
