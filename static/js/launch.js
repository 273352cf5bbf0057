// Open the gateway's hosted payment page through its own library (MPGS checkout.js):
// Checkout.configure({session: {id}}) then Checkout.showPaymentPage(). The plain link on the
// page is the fallback when the library does not load or scripts are off.
(function () {
  "use strict";
  var box = document.getElementById("launch");
  var status = document.getElementById("launch-status");
  window.tollgateCheckoutError = function () {
    status.textContent = "The card page could not be opened here. Use the button below.";
  };
  if (!box || typeof window.Checkout === "undefined") {
    if (status) { status.textContent = "Use the button below to continue to the card payment page."; }
    return;
  }
  try {
    window.Checkout.configure({ session: { id: box.getAttribute("data-session-id") } });
    window.Checkout.showPaymentPage();
  } catch (err) {
    window.tollgateCheckoutError();
  }
})();
