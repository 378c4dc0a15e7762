// The receipt's Print button: shown only where script runs, since it needs window.print().
(function () {
  "use strict";
  var button = document.getElementById("print-button");
  if (!button || typeof window.print !== "function") { return; }
  button.hidden = false;
  button.addEventListener("click", function () { window.print(); });
})();
