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

  function nameBoxes() {
    document.querySelectorAll("select.admin-autocomplete").forEach(function (select) {
      const box = select.nextElementSibling;
      const selection = box && box.querySelector(".select2-selection");
      const name = nameOf(select);
      if (!selection || !name || selection.getAttribute("aria-label") === name) return;
      selection.removeAttribute("aria-labelledby");
      selection.setAttribute("aria-label", name);
      const shown = selection.querySelector('.select2-selection__rendered[role="textbox"]');
      if (shown) shown.setAttribute("aria-label", name);
    });
  }

  // select2 builds its boxes when jQuery is ready, for each inline row added, and again when a
  // choice is made: name them whenever the page's elements change, whatever ran first.
  new MutationObserver(nameBoxes).observe(document.documentElement, { childList: true, subtree: true });
  nameBoxes();
})();
