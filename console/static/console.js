// pinset console: progressive enhancement only. Every page and form works
// without this script; it saves clicks and catches a mistyped confirmation
// before the server refuses it. No inline script anywhere (CSP).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // Version pickers of the history diff submit on change.
  document.querySelectorAll("select[data-autosubmit]").forEach(function (s) {
    s.addEventListener("change", function () { s.form.submit(); });
  });
  // Typed confirmations: the submit button stays disabled until the text
  // matches (for the publish form, only while a force box is ticked).
  document.querySelectorAll("input[data-confirm]").forEach(function (input) {
    var form = input.form;
    var button = form.querySelector("button[type=submit]");
    var boxes = form.querySelectorAll("input[name=force], input[name=force_unpin]");
    function update() {
      var needed = boxes.length === 0;
      boxes.forEach(function (b) { needed = needed || b.checked; });
      var ok = !needed || input.value.trim() === input.dataset.confirm;
      button.disabled = !ok;
      input.setAttribute("aria-invalid", ok ? "false" : "true");
    }
    input.addEventListener("input", update);
    boxes.forEach(function (b) { b.addEventListener("change", update); });
    update();
  });
});
