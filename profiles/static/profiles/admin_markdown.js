/*
 * The admin's Markdown text boxes (profiles/admin/widgets.py): a live preview rendered by the
 * server, and a "Cite evidence" picker that inserts [^ev:ID] at the cursor.
 *
 * No inline script or style (the admin's Content-Security-Policy is strict): everything is wired
 * here by event delegation on the document, so inline rows added with "Add another" work too.
 * The preview is fetched lazily (first focus, then typing, debounced); the server renders it with
 * the readers' sanitiser, and its answer is placed in a pane marked aria-live="polite".
 */
(function () {
  "use strict";

  var DEBOUNCE_MS = 400;
  var timers = new WeakMap();
  var versions = new WeakMap();
  var picker = null; // the one <dialog>, built on first use
  var pickerTarget = null; // {editor, textarea, start, end} the choice goes into

  function editorOf(node) {
    return node && node.closest ? node.closest(".md-editor") : null;
  }

  function textareaOf(editor) {
    return editor.querySelector("textarea");
  }

  function csrfToken() {
    var field = document.querySelector("input[name=csrfmiddlewaretoken]");
    if (field && field.value) {
      return field.value;
    }
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  /* The profile whose evidence this text cites: known to the page, or picked in the form. */
  function profileOf(editor) {
    if (editor.dataset.profile) {
      return editor.dataset.profile;
    }
    var name = editor.dataset.profileField;
    var form = editor.closest("form");
    if (name && form && form.elements[name]) {
      var value = form.elements[name].value || "";
      return /^\d+$/.test(value) ? value : "";
    }
    return "";
  }

  function withProfile(url, editor) {
    var profile = profileOf(editor);
    return profile ? url + "?profile=" + encodeURIComponent(profile) : url;
  }

  function paneOf(editor) {
    return editor.querySelector(".md-editor__preview");
  }

  function showMessage(pane, text) {
    var p = document.createElement("p");
    p.className = "md-editor__error";
    p.textContent = text;
    pane.replaceChildren(p);
  }

  function refreshPreview(editor) {
    var textarea = textareaOf(editor);
    var pane = paneOf(editor);
    if (!textarea || !pane) {
      return;
    }
    var version = (versions.get(editor) || 0) + 1;
    versions.set(editor, version);
    var body = new URLSearchParams();
    body.set("text", textarea.value);
    body.set("mode", editor.dataset.mode || "text");
    pane.setAttribute("aria-busy", "true");
    fetch(withProfile(editor.dataset.previewUrl, editor), {
      method: "POST",
      credentials: "same-origin",
      headers: {"X-CSRFToken": csrfToken(), "X-Requested-With": "XMLHttpRequest"},
      body: body
    }).then(function (response) {
      return response.text().then(function (html) {
        return {ok: response.ok, status: response.status, html: html};
      });
    }).then(function (answer) {
      if (versions.get(editor) !== version) {
        return; // a newer preview is on its way
      }
      pane.removeAttribute("aria-busy");
      if (!answer.ok) {
        showMessage(pane, answer.status === 413 ? answer.html : "Preview unavailable (" + answer.status + ").");
        return;
      }
      // Server-rendered, sanitised HTML (profiles.markdown): no script, no style attribute.
      var parsed = new DOMParser().parseFromString(answer.html, "text/html");
      pane.replaceChildren.apply(pane, Array.prototype.slice.call(parsed.body.childNodes));
      pane.classList.add("md-editor__preview--shown");
    }).catch(function () {
      pane.removeAttribute("aria-busy");
      showMessage(pane, "Preview unavailable: the server did not answer.");
    });
  }

  function schedulePreview(editor, delay) {
    clearTimeout(timers.get(editor));
    timers.set(editor, setTimeout(function () { refreshPreview(editor); }, delay));
  }

  document.addEventListener("focusin", function (event) {
    var editor = editorOf(event.target);
    if (editor && event.target.tagName === "TEXTAREA" && !editor.dataset.previewed) {
      editor.dataset.previewed = "1";
      schedulePreview(editor, 0);
    }
  });

  document.addEventListener("input", function (event) {
    var editor = editorOf(event.target);
    if (editor && event.target.tagName === "TEXTAREA") {
      editor.dataset.previewed = "1";
      schedulePreview(editor, DEBOUNCE_MS);
    }
  });

  /* --- the citation picker ------------------------------------------------------------------ */

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined) {
      node.textContent = text;
    }
    return node;
  }

  function buildPicker() {
    var dialog = element("dialog", "md-cite");
    dialog.setAttribute("aria-labelledby", "md-cite-title");
    var heading = element("h2", "md-cite__title", "Cite evidence");
    heading.id = "md-cite-title";
    var label = element("label", "md-cite__label", "Filter by title, publisher or state");
    var filter = element("input", "md-cite__filter");
    filter.type = "search";
    filter.id = "md-cite-filter";
    label.htmlFor = filter.id;
    var status = element("p", "md-cite__status");
    status.setAttribute("role", "status");
    var list = element("ul", "md-cite__list");
    var close = element("button", "button md-cite__close", "Cancel");
    close.type = "button";
    dialog.append(heading, label, filter, status, list, close);
    document.body.appendChild(dialog);

    filter.addEventListener("input", function () { applyFilter(dialog); });
    close.addEventListener("click", function () { dialog.close(); });
    dialog.addEventListener("close", function () {
      if (pickerTarget && pickerTarget.textarea) {
        pickerTarget.textarea.focus();
      }
      pickerTarget = null;
    });
    list.addEventListener("click", function (event) {
      var choice = event.target.closest("button[data-marker]");
      if (choice) {
        insertMarker(choice.dataset.marker);
        dialog.close();
      }
    });
    return dialog;
  }

  function applyFilter(dialog) {
    var words = dialog.querySelector(".md-cite__filter").value.toLowerCase().split(/\s+/).filter(Boolean);
    var shown = 0;
    dialog.querySelectorAll(".md-cite__item").forEach(function (item) {
      var haystack = item.dataset.search;
      var match = words.every(function (word) { return haystack.indexOf(word) !== -1; });
      item.hidden = !match;
      shown += match ? 1 : 0;
    });
    var total = dialog.querySelectorAll(".md-cite__item").length;
    if (total) {
      dialog.querySelector(".md-cite__status").textContent =
        shown === total ? total + " evidence items" : shown + " of " + total + " evidence items";
    }
  }

  function fillPicker(dialog, items) {
    var list = dialog.querySelector(".md-cite__list");
    var status = dialog.querySelector(".md-cite__status");
    list.replaceChildren();
    if (!items.length) {
      status.textContent = "This profile has no evidence yet: add it in the Evidence section and save, then cite it.";
      return;
    }
    items.forEach(function (item) {
      var li = element("li", "md-cite__item");
      li.dataset.search = [item.title, item.publisher, item.state_label, item.marker].join(" ").toLowerCase();
      var button = element("button", "md-cite__choose");
      button.type = "button";
      button.dataset.marker = item.marker;
      button.append(
        element("span", "md-cite__item-title", item.title),
        element("span", "md-cite__meta", [item.publisher, item.source_date].filter(Boolean).join(" · ")),
        element("span", "md-state md-state--" + item.state, item.state_label),
        element("code", "md-cite__marker", item.marker)
      );
      li.appendChild(button);
      list.appendChild(li);
    });
    applyFilter(dialog);
  }

  function openPicker(editor) {
    var textarea = textareaOf(editor);
    if (!textarea) {
      return;
    }
    picker = picker || buildPicker();
    pickerTarget = {editor: editor, textarea: textarea, start: textarea.selectionStart, end: textarea.selectionEnd};
    var filter = picker.querySelector(".md-cite__filter");
    filter.value = "";
    picker.querySelector(".md-cite__list").replaceChildren();
    var status = picker.querySelector(".md-cite__status");
    if (!profileOf(editor)) {
      status.textContent = editor.dataset.profileField
        ? "Choose the profile first: its evidence is listed here."
        : "Save the profile first: its evidence is listed here once it exists.";
    } else {
      status.textContent = "Loading the profile's evidence…";
      fetch(withProfile(editor.dataset.evidenceUrl, editor), {credentials: "same-origin"})
        .then(function (response) {
          if (!response.ok) {
            throw new Error(String(response.status));
          }
          return response.json();
        })
        .then(function (data) { fillPicker(picker, data.items); })
        .catch(function () { status.textContent = "The evidence list could not be loaded."; });
    }
    picker.showModal();
    filter.focus();
  }

  function insertMarker(marker) {
    if (!pickerTarget) {
      return;
    }
    var textarea = pickerTarget.textarea;
    var value = textarea.value;
    var start = Math.min(pickerTarget.start, value.length);
    var end = Math.min(pickerTarget.end, value.length);
    textarea.value = value.slice(0, start) + marker + value.slice(end);
    var caret = start + marker.length;
    textarea.setSelectionRange(caret, caret);
    pickerTarget.start = pickerTarget.end = caret;
    textarea.dispatchEvent(new Event("input", {bubbles: true}));
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest(".md-editor__cite") : null;
    if (button) {
      event.preventDefault();
      openPicker(editorOf(button));
    }
  });
})();
