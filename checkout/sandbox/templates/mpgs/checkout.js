/* Sandbox stand-in for the Mastercard Gateway Checkout library (checkout.min.js / checkout.js).
   Checkout.configure({session: {id}}) then Checkout.showPaymentPage() navigates to the hosted
   payment page; the error callback named by data-error is called when the session id is missing. */
(function () {
  "use strict";
  var base = {{ base|tojson }};
  var script = document.currentScript;
  var config = null;

  function named(attribute) {
    var name = script && script.getAttribute(attribute);
    return name && typeof window[name] === "function" ? window[name] : null;
  }

  function fail(explanation) {
    var callback = named("data-error");
    var error = { cause: "INVALID_REQUEST", explanation: explanation };
    if (callback) { callback(error); return; }
    throw new Error(explanation);
  }

  function showPaymentPage() {
    if (!config || !config.session || !config.session.id) {
      fail("Checkout.configure() must be called with session.id first");
      return;
    }
    window.location.assign(base + "/checkout/pay/" + encodeURIComponent(config.session.id) +
      "?checkoutVersion=1.0.0");
  }

  window.Checkout = {
    configure: function (options) { config = options || null; },
    showPaymentPage: showPaymentPage,
    showLightbox: showPaymentPage,
    showEmbeddedPage: function () { showPaymentPage(); }
  };
})();
