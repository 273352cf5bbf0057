// Tollgate sandbox stand-in for HyperPay's paymentWidgets.js: renders a test card form into every
// <form class="paymentWidgets"> and posts it to the sandbox, which sends the shopper on to the
// form's action (shopperResultUrl) with ?id=<checkoutId>&resourcePath=/v1/checkouts/<id>/payment.
(function () {
  "use strict";
  var me = document.currentScript;
  var src = new URL(me.src);
  var checkoutId = src.searchParams.get("checkoutId") || "";
  var brandsLabel = { MADA: "mada", VISA: "Visa", MASTER: "Mastercard" };

  function field(form, label, name, attrs) {
    var wrap = document.createElement("label");
    wrap.className = "wpwl-label";
    wrap.textContent = label;
    var input = document.createElement("input");
    input.name = name;
    input.className = "wpwl-control wpwl-control-" + name.replace(/\W/g, "");
    Object.keys(attrs || {}).forEach(function (key) { input.setAttribute(key, attrs[key]); });
    wrap.appendChild(input);
    form.appendChild(wrap);
    return input;
  }

  function hidden(form, name, value) {
    var input = document.createElement("input");
    input.type = "hidden";
    input.name = name;
    input.value = value;
    form.appendChild(input);
  }

  function render(form) {
    var brands = (form.getAttribute("data-brands") || "VISA MASTER").split(/\s+/).filter(Boolean);
    hidden(form, "shopperResultUrl", form.getAttribute("action") || "");
    var select = document.createElement("select");
    select.name = "paymentBrand";
    select.className = "wpwl-control wpwl-control-brand";
    select.setAttribute("aria-label", "Card brand");
    brands.forEach(function (brand) {
      var option = document.createElement("option");
      option.value = brand;
      option.textContent = brandsLabel[brand] || brand;
      select.appendChild(option);
    });
    form.appendChild(select);
    field(form, "Card number", "card.number", { inputmode: "numeric", autocomplete: "cc-number", required: "" });
    field(form, "Expiry date (MM / YY)", "card.expiry", { autocomplete: "cc-exp", value: "12 / 34" });
    field(form, "Card holder", "card.holder", { autocomplete: "cc-name", value: "Test Holder" });
    field(form, "CVV", "card.cvv", { inputmode: "numeric", autocomplete: "cc-csc", value: "123" });
    var button = document.createElement("button");
    button.type = "submit";
    button.className = "wpwl-button wpwl-button-pay";
    button.textContent = "Pay now";
    form.appendChild(button);
    form.setAttribute("method", "post");
    form.setAttribute("action", src.origin + "/v1/checkouts/" + encodeURIComponent(checkoutId) + "/payment");
    form.classList.add("wpwl-form");
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("form.paymentWidgets"), render);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
