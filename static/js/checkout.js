// Checkout page, progressive enhancement only: the form is a plain POST that works without
// JavaScript. With it, "Pay now" shows a busy state and a second click does nothing. The server
// also refuses a second checkout for the same attempt token, so this is for the shopper's
// comfort, not for safety.
(function () {
  "use strict";
  var form = document.getElementById("paymentForm");
  if (!form) { return; }
  var button = form.querySelector(".submitBtn");
  var live = document.getElementById("pay-status");
  var idleText = button ? button.textContent : "Pay now";
  var submitted = false;
  var slowTimer = null;

  // After a refused submit the server puts a "There is a problem" box at the top: move focus
  // there so keyboard and screen-reader users land on the explanation.
  var problem = document.getElementById("problem");
  if (problem) { problem.focus(); }

  function reset() {
    submitted = false;
    if (slowTimer) { window.clearTimeout(slowTimer); slowTimer = null; }
    if (!button) { return; }
    button.removeAttribute("aria-busy");
    button.removeAttribute("aria-disabled");
    button.textContent = idleText;
    if (live) { live.textContent = ""; }
  }

  form.addEventListener("submit", function (event) {
    if (submitted) { event.preventDefault(); return; }
    submitted = true;
    if (!button) { return; }
    button.setAttribute("aria-busy", "true");
    button.setAttribute("aria-disabled", "true");
    button.textContent = button.getAttribute("data-busy-text") || "Please wait…";
    if (live) { live.textContent = button.textContent; }
    // If the gateway is very slow, let the shopper press again after a while: the same attempt
    // token is posted, so the server hands back the same checkout instead of a second one.
    slowTimer = window.setTimeout(function () {
      reset();
      if (live) { live.textContent = "Still waiting for the payment provider. You can press Pay now again."; }
    }, 20000);
  });

  // Coming back with the browser's Back button restores the page from cache: make it usable.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) { reset(); }
  });
})();
