/* "On this page": mark the section being read with aria-current="true" (the list works without it).
   Loaded with `defer` from templates/profiles/institution_detail.html; no inline script (CSP).
   The section being read is the one crossing a line 30% down the window (between two sections, the
   last one marked stays); once the page's end is in view, the last section in view (a short last
   section never reaches that line). */
(function () {
  "use strict";
  var nav = document.querySelector(".toc");
  if (!nav || !("IntersectionObserver" in window)) return;
  var links = {};
  var sections = [];
  Array.prototype.forEach.call(nav.querySelectorAll('a[href^="#"]'), function (link) {
    var section = document.getElementById(link.getAttribute("href").slice(1));
    if (section) {
      links[section.id] = link;
      sections.push(section);
    }
  });
  if (!sections.length) return;
  var end = document.querySelector(".site-footer") || sections[sections.length - 1];
  var reading = {};
  var inView = {};
  var endInView = false;

  function mark(id) {
    Object.keys(links).forEach(function (key) {
      if (key === id) {
        links[key].setAttribute("aria-current", "true");
      } else {
        links[key].removeAttribute("aria-current");
      }
    });
    // Keep the marked entry visible when the list scrolls within itself.
    var link = links[id];
    if (nav.scrollHeight > nav.clientHeight) {
      var top = link.offsetTop - nav.offsetTop;
      if (top < nav.scrollTop || top + link.offsetHeight > nav.scrollTop + nav.clientHeight) {
        nav.scrollTop = Math.max(0, top - nav.clientHeight / 2);
      }
    }
  }

  function current() {
    var i;
    if (endInView) {
      for (i = sections.length - 1; i >= 0; i--) {
        if (inView[sections[i].id]) return sections[i].id;
      }
    }
    for (i = 0; i < sections.length; i++) {
      if (reading[sections[i].id]) return sections[i].id;
    }
    return null;
  }

  function update() {
    var id = current();
    if (id) mark(id);
  }

  function observe(state, options) {
    var observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) {
        if (entry.target === end) {
          endInView = entry.isIntersecting;
        } else {
          state[entry.target.id] = entry.isIntersecting;
        }
      });
      update();
    }, options);
    sections.forEach(function (section) {
      observer.observe(section);
    });
    return observer;
  }

  observe(reading, { rootMargin: "-30% 0px -69% 0px" });
  observe(inView, { rootMargin: "0px" }).observe(end);
})();
