// The invoices page: the running total on the Pay button, "Select all", and for long lists
// search, filters, sorting and "Show more".
// The page works without this file (every invoice listed, Pay Bill posts the ticks), and the
// server always recomputes the amount from PIMS: nothing here decides what is charged.
(function () {
  "use strict";
  var form = document.getElementById("pay-form");
  if (!form) { return; }
  var list = document.getElementById("invoice-list");
  var rows = Array.prototype.slice.call(list.children);
  var boxes = rows.map(function (row) { return row.querySelector('input[name="invoice"]'); });
  // Partial payments (when the shop allows them): each row's amount field.
  var amounts = rows.map(function (row) { return row.querySelector(".invoice__amount"); });
  // What search looks in, what sorting keeps stable: read once from the page as served.
  var searchText = rows.map(function (row) { return row.textContent.toLowerCase(); });
  rows.forEach(function (row, i) { row.setAttribute("data-order", i); });
  var selectAll = document.getElementById("select-all");
  var total = document.getElementById("selected-total");
  var count = document.getElementById("selected-count");
  var button = document.getElementById("pay-button");
  var hint = document.getElementById("pay-hint");
  var bar = document.getElementById("pay-bar");
  var status = document.getElementById("list-status");
  var tools = document.getElementById("list-tools");
  var search = document.getElementById("invoice-search");
  var locationFilter = document.getElementById("location-filter");
  var overdueOnly = document.getElementById("overdue-only");
  var sort = document.getElementById("invoice-sort");
  var showMore = document.getElementById("show-more");
  var pageSize = parseInt(form.getAttribute("data-page-size"), 10) || 20;
  var shown = pageSize;
  var formatter = new Intl.NumberFormat(document.documentElement.lang || "en-US", {
    style: "currency", currency: total.getAttribute("data-currency") || "USD", useGrouping: "always"
  });

  // The cents typed in a row's amount field ("50", "1,234.5", "$12.30", on a Spanish page
  // "1.234,5"), read as text: no float arithmetic on money. The rules are cpp.selection's:
  // either "." or "," is the decimal point; followed by three digits, only the page's own
  // group symbol (data-group) separates thousands. Its whole balance while the field holds
  // no amount; the server checks every amount again and says plainly what is wrong with one.
  var blank = "[ \\t\\n\\r\\f\\v\\u00a0\\u2000-\\u200a\\u202f\\u3000]"; // cpp.selection.BLANK
  var edges = new RegExp("^" + blank + "+|" + blank + "+$", "g");
  function amountText(field) { return field.value.replace(edges, ""); }
  var group = form.getAttribute("data-group") || ",";
  var groupPattern = /\s/.test(group) ? "[ \u00a0\u202f]" : group.replace(/[^\w]/g, "\\$&");
  var amountPattern = new RegExp("^\\$?" + blank + "*(?:([1-9][0-9]{0,2}(?:" + groupPattern +
    "[0-9]{3}){1,3})|([0-9]{1,12}))?(?:([.,])([0-9]{0,2}))?$");
  function readAmount(text) {
    var match = amountPattern.exec(text);
    if (!match || !(match[1] || match[2] || match[4])) { return null; }
    if (match[1] && match[3] && match[1].indexOf(match[3]) !== -1) { return null; } // "1,234,5"
    return parseInt((match[1] || match[2] || "0").replace(/[^0-9]/g, ""), 10) * 100 +
      parseInt((match[4] || "").padEnd(2, "0"), 10);
  }
  function rowCents(i) {
    var full = parseInt(boxes[i].getAttribute("data-cents"), 10);
    var cents = amounts[i] ? readAmount(amountText(amounts[i])) : null;
    if (amounts[i]) {
      // Flag an amount that cannot be read (the server would refuse it, saying why).
      var unreadable = cents === null && amountText(amounts[i]) !== "";
      amounts[i].setAttribute("aria-invalid", unreadable ? "true" : "false");
    }
    return cents === null ? full : cents;
  }

  // The page's words in the customer's language (cpp.invoices.page_messages): a [one, many]
  // pair or a single text, with {n}, {amount} and {visible} filled in here.
  var messages = JSON.parse(form.getAttribute("data-messages") || "{}");
  function say(key, n, values) {
    var text = messages[key];
    if (Array.isArray(text)) { text = text[n === 1 ? 0 : 1]; }
    values = values || {};
    values.n = n;
    return String(text).replace(/\{(\w+)\}/g, function (all, name) {
      return name in values ? values[name] : all;
    });
  }

  // What is ticked, what the page says and what Pay Bill sends always agree: this runs after
  // every change, and on every showing of the page (Back and Forward included).
  function update() {
    var cents = 0, ticked = 0;
    boxes.forEach(function (box, i) {
      if (box.checked) { cents += rowCents(i); ticked += 1; }
    });
    // Integer cents, divided only for display: no float arithmetic on money.
    var amount = formatter.format(cents / 100);
    total.textContent = amount;
    count.textContent = say("invoices", ticked);
    selectAll.checked = ticked === boxes.length;
    selectAll.indeterminate = ticked > 0 && ticked < boxes.length;
    if (!form.getAttribute("data-submitted")) {
      button.textContent = ticked ? say("pay", ticked, {amount: amount}) : say("payBill");
      // aria-disabled rather than disabled: the button stays reachable and says why it waits.
      button.setAttribute("aria-disabled", ticked ? "false" : "true");
    }
    if (ticked) { hint.hidden = true; }
    rows.forEach(function (row, i) {
      row.classList.toggle("is-ticked", boxes[i].checked);
      // An amount to change only where it is paid: a long list stays short.
      if (amounts[i]) { amounts[i].parentNode.hidden = !boxes[i].checked; }
    });
    describeList();
  }

  function matches(row) {
    var query = search ? search.value.trim().toLowerCase() : "";
    if (query && searchText[+row.getAttribute("data-order")].indexOf(query) === -1) { return false; }
    if (locationFilter && locationFilter.value &&
        row.getAttribute("data-location") !== locationFilter.value) { return false; }
    if (overdueOnly && overdueOnly.checked && !row.classList.contains("is-overdue")) { return false; }
    return true;
  }

  function compare(a, b) {
    var how = sort ? sort.value : "";
    var order = +a.getAttribute("data-order") - +b.getAttribute("data-order");
    var by;
    if (how === "amount-desc" || how === "amount-asc") {
      by = cents(a) - cents(b);
      if (how === "amount-desc") { by = -by; }
    } else if (how === "due-asc" || how === "due-desc") {
      // ISO dates compare as text; an invoice with no due date goes last.
      var x = a.getAttribute("data-due") || "9999", y = b.getAttribute("data-due") || "9999";
      by = x < y ? -1 : x > y ? 1 : 0;
      if (how === "due-desc") { by = -by; }
    }
    return by || order;
  }

  function cents(row) { return +boxes[+row.getAttribute("data-order")].getAttribute("data-cents"); }

  var matching = rows;
  function arrange() {
    if (!tools) { return; }
    matching = rows.filter(matches);
    matching.sort(compare);
    rows.slice().sort(compare).forEach(function (row) { list.appendChild(row); });
    rows.forEach(function (row) { row.hidden = true; });
    matching.slice(0, shown).forEach(function (row) { row.hidden = false; });
    showMore.parentNode.hidden = matching.length <= shown;
    showMore.textContent = say("showMore", Math.min(pageSize, matching.length - shown));
    describeList();
  }

  function describeList() {
    if (!tools) { return; }
    var visible = Math.min(shown, matching.length);
    var hiddenTicked = boxes.filter(function (box, i) { return box.checked && rows[i].hidden; }).length;
    var text = matching.length === 0 ? say("noMatch") :
      say(matching.length < rows.length ? "showingMatch" : "showing", matching.length,
          {visible: visible});
    if (hiddenTicked) { text += " " + say("hiddenTicked", hiddenTicked); }
    status.textContent = text;
  }

  function restart() { shown = pageSize; arrange(); }

  selectAll.closest("[hidden]").hidden = false;
  total.closest("[hidden]").hidden = false;
  if (tools) {
    tools.hidden = false;
    status.hidden = false;
    [search, locationFilter, overdueOnly, sort].forEach(function (control) {
      if (control) { control.addEventListener(control === search ? "input" : "change", restart); }
    });
    showMore.addEventListener("click", function () {
      var first = matching[shown];
      shown += pageSize;
      arrange();
      if (first) { first.querySelector("input").focus(); } // carry on where the list grew
    });
  }
  selectAll.addEventListener("change", function () {
    boxes.forEach(function (box) { box.checked = selectAll.checked; });
    update();
  });
  boxes.forEach(function (box) { box.addEventListener("change", update); });
  amounts.forEach(function (field, i) {
    if (!field) { return; }
    field.addEventListener("input", function () {
      if (amountText(field)) { boxes[i].checked = true; } // typing an amount means paying it
      update();
    });
  });
  // Enter (a phone keyboard's Go or Search key) in a field of the form would submit it: Pay
  // Bill, for invoices a search may be hiding. Only the Pay button pays; in the search box
  // the key just closes the keyboard, the list already being filtered as it is typed.
  [search].concat(amounts).forEach(function (field) {
    if (!field) { return; }
    field.addEventListener("keydown", function (event) {
      if (event.key !== "Enter") { return; }
      event.preventDefault();
      if (field === search) { field.blur(); }
    });
  });

  form.addEventListener("submit", function (event) {
    if (form.getAttribute("data-submitted")) {
      event.preventDefault(); // a double click sends one Pay Bill
      return;
    }
    if (!boxes.some(function (box) { return box.checked; })) {
      event.preventDefault(); // the server would refuse it too
      hint.hidden = false;
      hint.setAttribute("role", "alert");
      return;
    }
    form.setAttribute("data-submitted", "1");
    button.setAttribute("aria-disabled", "true");
    button.classList.add("is-busy");
    button.textContent = say("taking");
  });

  // Keyboard focus never hides behind the sticky pay bar (WCAG 2.4.11).
  function keepClearOfBar() {
    document.documentElement.style.scrollPaddingBottom = (bar.offsetHeight + 16) + "px";
  }
  form.addEventListener("focusin", function (event) {
    if (bar.contains(event.target)) { return; }
    var covered = event.target.getBoundingClientRect().bottom - bar.getBoundingClientRect().top;
    if (covered > -8) { window.scrollBy(0, covered + 16); }
  });
  window.addEventListener("resize", keepClearOfBar);

  // "Go to Pay Bill": straight to the button, without tabbing through every invoice.
  Array.prototype.forEach.call(document.querySelectorAll(".skip-to-pay"), function (link) {
    link.addEventListener("click", function (event) {
      event.preventDefault();
      button.focus();
      button.scrollIntoView({block: "nearest"});
    });
  });

  window.addEventListener("pageshow", function () {
    // Back from Cayan's page: the form is usable again, and the total is recounted from the
    // boxes as they are now (a page restored from the back-forward cache keeps its ticks).
    form.removeAttribute("data-submitted");
    button.classList.remove("is-busy");
    update();
  });
  keepClearOfBar();
  arrange();
  update();
})();
