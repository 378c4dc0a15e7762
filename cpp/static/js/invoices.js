// Invoice page: "Select all" and the running total of ticked invoices.
// The page works without this file; the server always recomputes the amount from PIMS.
(function () {
  "use strict";
  var form = document.getElementById("pay-form");
  if (!form) { return; }
  var boxes = Array.prototype.slice.call(form.querySelectorAll('input[name="invoice"]'));
  var selectAll = document.getElementById("select-all");
  var total = document.getElementById("selected-total");
  var button = document.getElementById("pay-button");
  var formatter = new Intl.NumberFormat(document.documentElement.lang || "en-US", {
    style: "currency", currency: total.getAttribute("data-currency") || "USD"
  });

  function update() {
    var cents = 0, ticked = 0;
    boxes.forEach(function (box) {
      if (box.checked) { cents += parseInt(box.getAttribute("data-cents"), 10); ticked += 1; }
    });
    // Integer cents, divided only for display: no float arithmetic on money.
    total.textContent = formatter.format(cents / 100);
    selectAll.checked = ticked === boxes.length;
    selectAll.indeterminate = ticked > 0 && ticked < boxes.length;
  }

  selectAll.closest("[hidden]").hidden = false;
  total.closest("[hidden]").hidden = false;
  selectAll.addEventListener("change", function () {
    boxes.forEach(function (box) { box.checked = selectAll.checked; });
    update();
  });
  boxes.forEach(function (box) { box.addEventListener("change", update); });
  form.addEventListener("submit", function (event) {
    if (form.getAttribute("data-submitted")) {
      event.preventDefault(); // a double click sends one Pay Bill
      return;
    }
    form.setAttribute("data-submitted", "1");
    button.setAttribute("aria-disabled", "true");
    button.textContent = "Taking you to the secure payment page…";
  });
  window.addEventListener("pageshow", function () {
    // Back from Cayan's page: the form is usable again, and the total is recounted from the
    // boxes as they are now (a page restored from the back-forward cache keeps its ticks).
    form.removeAttribute("data-submitted");
    button.removeAttribute("aria-disabled");
    button.textContent = "Pay Bill";
    update();
  });
  update();
})();
