// Live status: poll the JSON twin of this page until the payment is final and its eSIM issued
// (or given up on), keep the crypto confirmations and the countdown current, and reload the page
// when the status or the fulfilment changes (the server renders the words for each). Without JavaScript a <noscript> meta refresh does
// the polling instead. Copy buttons are shown only when a script can make them work.
(function () {
  "use strict";
  var card = document.getElementById("status");
  if (!card) { return; }
  var url = card.getAttribute("data-json-url");
  var shownStatus = card.getAttribute("data-status");
  var shownConfirms = parseInt(card.getAttribute("data-confirms") || "0", 10);
  var shownCoins = card.getAttribute("data-coins") || "";
  var shownFulfilment = card.getAttribute("data-fulfilment") || "";
  // The server's pace when it has one: an expired payment that may still receive money late,
  // or an eSIM on its way (slower as time passes, and never before the outbox's next attempt;
  // the server stops the polling an hour after payment, so a page left open never polls forever).
  var serverPoll = parseInt(card.getAttribute("data-poll-seconds") || "0", 10) * 1000;
  var countdowns = Array.prototype.slice.call(document.querySelectorAll("[data-field=countdown]"));
  var expiresAt = countdowns.length ? Date.parse(countdowns[0].getAttribute("data-expires-at")) : NaN;
  var delay = 3000;
  var MAX_DELAY = 30000;

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  // Same format as the countdown_text macro in templates/_macros.html.
  function format(left) {
    if (left >= 3600) { return Math.floor(left / 3600) + " h " + pad(Math.floor((left % 3600) / 60)) + " min"; }
    return Math.floor(left / 60) + " min " + pad(left % 60) + " s";
  }

  function tick() {
    if (isNaN(expiresAt)) { return; }
    var left = Math.max(0, Math.round((expiresAt - Date.now()) / 1000));
    countdowns.forEach(function (el) { el.textContent = format(left); });
  }

  function setField(name, value) {
    if (value === null || value === undefined) { return; }
    Array.prototype.forEach.call(document.querySelectorAll("[data-field=" + name + "]"), function (el) {
      el.textContent = value;
    });
  }

  function update(data) {
    setField("confirms_received", data.confirms_received || 0);
    if (data.confirms_needed !== null && data.confirms_needed !== undefined) {
      setField("confirms_needed", data.confirms_needed);
      var meter = document.querySelector("[data-field=confirms_meter]");
      if (meter && data.confirms_needed > 0) {
        var pct = Math.min(100, Math.floor((data.confirms_received || 0) * 100 / data.confirms_needed));
        meter.setAttribute("width", pct + "%");
      }
    }
    if (data.expires_at) { expiresAt = Date.parse(data.expires_at); }
  }

  function schedule(ms) {
    // A hidden tab polls less often; it catches up as soon as it is shown again.
    window.setTimeout(poll, document.hidden ? Math.max(ms, 15000) : ms);
  }

  function poll() {
    fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (data) {
        delay = 3000;
        // A new status, or the first confirmation of crypto coins, changes what the page says
        // (headline, deadline, "pay another way"): let the server render it again.
        var firstConfirmation = shownConfirms === 0 && (data.confirms_received || 0) > 0;
        var moreCoins = (data.coins_received || "") !== shownCoins;
        var codeArrived = data.fulfilment_code && !document.getElementById("activation-code");
        var fulfilmentMoved = (data.fulfilment || "") !== shownFulfilment;
        if (data.status !== shownStatus || firstConfirmation || moreCoins || codeArrived || fulfilmentMoved) {
          window.location.reload();
          return;
        }
        update(data);
        if (!data.final) {
          schedule(data.poll_seconds ? data.poll_seconds * 1000 : delay);
        } else if (data.poll_seconds) {
          schedule(data.poll_seconds * 1000);
        }
      })
      .catch(function () {
        // Rate-limited (429), server busy or offline: back off, never give up.
        delay = Math.min(MAX_DELAY, delay * 2);
        schedule(delay);
      });
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-copy]"), function (button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) { return; }
    button.hidden = false;
    button.setAttribute("aria-label", "Copy the " + (button.getAttribute("data-copy-label") || "text"));
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(source.textContent.trim()).then(function () {
        button.textContent = "Copied";
        window.setTimeout(function () { button.textContent = "Copy"; }, 2000);
      });
    });
  });

  if (card.getAttribute("data-final") !== "true") {
    tick();
    window.setInterval(tick, 1000);
    schedule(serverPoll || delay);
  } else if (serverPoll > 0) {
    schedule(serverPoll);
  }
})();
