// Pay button: show a busy state and make a second click do nothing. The server also refuses a
// second checkout for the same attempt token, so this is for the shopper, not for safety.
(function () {
  "use strict";
  var form = document.getElementById("paymentForm");
  if (!form) { return; }
  var button = form.querySelector(".submitBtn");
  var submitted = false;
  form.addEventListener("submit", function (event) {
    if (submitted) { event.preventDefault(); return; }
    submitted = true;
    button.setAttribute("aria-busy", "true");
    button.setAttribute("aria-disabled", "true");
    button.textContent = button.getAttribute("data-busy-text") || "Please wait…";
  });
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {
      submitted = false;
      button.removeAttribute("aria-busy");
      button.removeAttribute("aria-disabled");
      button.textContent = "Pay now";
    }
  });
})();
