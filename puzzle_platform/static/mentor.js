// Mentor area, progressive enhancement only: the forms work without it.
(function () {
  "use strict";

  // Live Markdown preview: the server renders it with the same sanitiser as scholars' pages.
  document.querySelectorAll("textarea[data-preview]").forEach(function (area) {
    var out = document.getElementById(area.getAttribute("data-preview"));
    var timer = null;
    var render = function () {  // app.js (loaded first on every page) holds the preview itself
      window.mipPreview(area, out, parseInt(area.getAttribute("data-max") || "0", 10));
    };
    area.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(render, 400); });
    render();
  });

  // The structured editor: a new recipe, grader, kind or mode changes which fields apply, so
  // changing one re-renders the form (op=refresh: nothing is saved); the buttons that do the
  // same without JavaScript are then hidden.
  var refresh = document.getElementById("op-refresh");
  if (refresh) {
    document.querySelectorAll("select[data-refresh]").forEach(function (sel) {
      sel.addEventListener("change", function () { refresh.form.requestSubmit(refresh); });
    });
    document.querySelectorAll("button.refresh").forEach(function (b) { b.hidden = true; });
  }

  // A choice question's truth offers its choices; typing new choices updates the offer (without
  // JavaScript it follows on the next refresh; the truth field takes any text either way).
  document.querySelectorAll("datalist[data-choices-of]").forEach(function (list) {
    var area = document.querySelector('textarea[name="' + list.getAttribute("data-choices-of") + '"]');
    if (!area) { return; }
    area.addEventListener("input", function () {
      list.replaceChildren.apply(list, area.value.split("\n").filter(function (c) { return c.trim(); })
        .map(function (c) { var o = document.createElement("option"); o.value = c.replace(/\r$/, ""); return o; }));
    });
  });

  // Time zone: default to the browser's zone on a fresh form, converting the UTC times shown.
  var select = document.getElementById("tz");
  var label = document.getElementById("tz-label");
  function localValue(iso, zone) {
    var parts = {};
    new Intl.DateTimeFormat("en-GB", {timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23"}).formatToParts(new Date(iso))
      .forEach(function (p) { parts[p.type] = p.value; });
    return parts.year + "-" + parts.month + "-" + parts.day + "T" + parts.hour + ":" + parts.minute + ":" + parts.second;
  }
  if (select) {
    var browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    var known = Array.prototype.some.call(select.options, function (o) { return o.value === browserZone; });
    if (select.getAttribute("data-auto") && browserZone && known) {
      select.value = browserZone;
      document.querySelectorAll("input[data-utc]").forEach(function (input) {
        input.value = localValue(input.getAttribute("data-utc"), browserZone);
      });
    }
    var show = function () { if (label) { label.textContent = select.value; } };
    select.addEventListener("change", show);
    show();
  }
  // Filters by day (the submissions page): days in the browser's zone, as the times shown.
  var viewerZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  document.querySelectorAll("input[data-browser-zone]").forEach(function (input) {
    if (viewerZone && (!input.value || input.value === "UTC")) { input.value = viewerZone; }
    document.querySelectorAll("[data-zone-label]").forEach(function (el) { el.textContent = input.value; });
  });
  // Grading an explanation with the keyboard: 1-9 toggle the rubric items, Enter saves and
  // opens the next ungraded answer, "n" skips to it. Typing in the comment box is left alone.
  var gradeForm = document.querySelector("form[data-keyboard=rubric]");
  if (gradeForm) {
    document.addEventListener("keydown", function (e) {
      var t = e.target;
      var typing = t && (t.tagName === "TEXTAREA" || t.tagName === "SELECT" ||
        (t.tagName === "INPUT" && t.type !== "checkbox"));
      if (typing || e.ctrlKey || e.metaKey || e.altKey) { return; }
      if (/^[1-9]$/.test(e.key)) {
        var box = gradeForm.querySelector('input[data-digit="' + e.key + '"]');
        if (box) { box.checked = !box.checked; e.preventDefault(); }
      } else if (e.key === "Enter" && (!t || (t.tagName !== "BUTTON" && t.tagName !== "A"))) {
        e.preventDefault();
        gradeForm.requestSubmit(document.getElementById("save-next"));
      } else if (e.key === "n") {
        var skip = document.getElementById("skip");
        if (skip) { e.preventDefault(); skip.click(); }
      }
    });
  }
})();
