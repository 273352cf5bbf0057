// Live status: poll the JSON twin of this page until the payment is final, and count down to
// the gateway's deadline. Without JavaScript a <noscript> meta refresh does the polling.
(function () {
  "use strict";
  var card = document.getElementById("status");
  if (!card) { return; }
  var url = card.getAttribute("data-json-url");
  var lastStatus = null;
  var countdown = card.querySelector("[data-field=countdown]");
  var expiresAt = countdown ? Date.parse(countdown.getAttribute("data-expires-at")) : NaN;

  function tick() {
    if (!countdown || isNaN(expiresAt)) { return; }
    var left = Math.max(0, Math.round((expiresAt - Date.now()) / 1000));
    countdown.textContent = Math.floor(left / 60) + " min " + (left % 60) + " s";
  }

  function setField(name, value) {
    var el = card.querySelector("[data-field=" + name + "]");
    if (el && value !== null && value !== undefined) { el.textContent = value; }
  }

  function poll() {
    fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        if (lastStatus !== null && data.status !== lastStatus) { window.location.reload(); return; }
        lastStatus = data.status;
        setField("message", data.message || "");
        setField("confirms_received", data.confirms_received || 0);
        if (data.expires_at) { expiresAt = Date.parse(data.expires_at); }
        if (!data.final) { window.setTimeout(poll, 3000); }
      })
      .catch(function () { window.setTimeout(poll, 6000); });
  }

  if (card.getAttribute("data-final") !== "true") {
    tick();
    window.setInterval(tick, 1000);
    poll();
  }
})();
