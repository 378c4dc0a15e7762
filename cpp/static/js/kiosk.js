// The counter kiosk: a visible countdown that any touch or key resets; at zero the session is
// ended on the server ("Start over") and the next customer finds the start page. The server
// ends an idle kiosk session by itself as well (cpp.kiosk).
(function () {
  "use strict";
  var form = document.getElementById("kiosk-start-over");
  var shown = document.getElementById("kiosk-countdown");
  if (!form || !shown) { return; }
  var limit = parseInt(document.body.getAttribute("data-kiosk-seconds"), 10) || 90;
  var left = limit;
  var message = document.body.getAttribute("data-kiosk-message") || "Starting over in {n} s";
  var warned = false;

  function render() {
    shown.textContent = message.replace("{n}", left);
    if (left <= 10 && !warned) {
      warned = true;
      shown.setAttribute("role", "alert"); // said once, not every second
      shown.classList.add("is-soon");
    }
  }
  function touched() {
    left = limit;
    warned = false;
    shown.removeAttribute("role");
    shown.classList.remove("is-soon");
    render();
  }
  ["pointerdown", "keydown", "touchstart", "input", "scroll"].forEach(function (name) {
    window.addEventListener(name, touched, {passive: true});
  });
  render();
  window.setInterval(function () {
    left -= 1;
    if (left <= 0) {
      form.submit();
      left = limit;
    }
    render();
  }, 1000);
})();
