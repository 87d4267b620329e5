/* Names for the admin's select2 boxes (autocomplete fields), which select2 labels by the text of
   the current choice: an empty box, or one in a table row with no <label>, is announced as nothing
   (axe-core: aria-input-field-name). The name is the one the <select> underneath carries: its
   aria-label, or the text of its <label>. No inline script: loaded from admin/base_site.html. */
"use strict";
(function () {
  function nameOf(select) {
    if (select.getAttribute("aria-label")) return select.getAttribute("aria-label");
    const label = select.id && document.querySelector('label[for="' + select.id + '"]');
    return label ? label.textContent.replace(/:\s*$/, "").trim() : "";
  }

  function nameBoxes(root) {
    root.querySelectorAll("select.admin-autocomplete").forEach(function (select) {
      const box = select.nextElementSibling;
      const selection = box && box.querySelector(".select2-selection");
      const name = nameOf(select);
      if (!selection || !name) return;
      selection.removeAttribute("aria-labelledby");
      selection.setAttribute("aria-label", name);
      const shown = selection.querySelector('.select2-selection__rendered[role="textbox"]');
      if (shown) shown.setAttribute("aria-label", name);
    });
  }

  // select2 starts on jQuery's ready and on each added inline row; name the boxes just after.
  window.addEventListener("load", function () { nameBoxes(document); });
  document.addEventListener("formset:added", function (event) {
    window.setTimeout(function () { nameBoxes(event.target); }, 0);
  });
})();
