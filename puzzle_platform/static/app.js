// Progressive enhancement only: every page works without it.
(function () {
  "use strict";
  // Times: the server writes UTC; show them in the viewer's time zone.
  // (dateStyle/timeStyle cannot be combined with timeZoneName: that throws and stopped this whole script)
  var fmt = new Intl.DateTimeFormat(undefined, {year: "numeric", month: "short", day: "numeric",
    hour: "numeric", minute: "2-digit", timeZoneName: "short"});
  document.querySelectorAll("time.localtime").forEach(function (el) {
    var d = new Date(el.getAttribute("datetime"));
    if (!isNaN(d)) { el.title = el.title || el.textContent; el.textContent = fmt.format(d); }
  });
  // Phones: the navigation collapses behind the "Menu" button (CSS shows the button only on
  // narrow screens and only once this class is set; without script the links simply wrap).
  var header = document.querySelector("header.top");
  var toggle = header && header.querySelector(".menu-toggle");
  if (toggle) {
    header.classList.add("js-nav");
    var setOpen = function (open) {
      header.classList.toggle("nav-open", open);
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
    };
    toggle.addEventListener("click", function () { setOpen(!header.classList.contains("nav-open")); });
    header.addEventListener("keydown", function (e) {
      if (e.key === "Escape" && header.classList.contains("nav-open")) { setOpen(false); toggle.focus(); }
    });
  }
  // Plotly figures stored as JSON in <script type="application/json"> blocks, drawn in the
  // page's colours (the CSS variables of the light or dark theme) at the container's width.
  var dark = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  function themeLayout() {
    var css = getComputedStyle(document.documentElement);
    var v = function (name) { return css.getPropertyValue(name).trim(); };
    var axis = {gridcolor: v("--grid"), zerolinecolor: v("--line"), linecolor: v("--line")};
    return {paper_bgcolor: v("--card"), plot_bgcolor: v("--card"), font: {color: v("--fg")}, xaxis: axis, yaxis: axis};
  }
  function merged(layout, theme) {
    var out = {};
    Object.keys(layout).forEach(function (k) { out[k] = layout[k]; });
    Object.keys(theme).forEach(function (k) {
      var base = layout[k];
      if (base && typeof base === "object" && typeof theme[k] === "object") {
        var m = {};
        Object.keys(base).forEach(function (j) { m[j] = base[j]; });
        Object.keys(theme[k]).forEach(function (j) { m[j] = theme[k][j]; });
        out[k] = m;
      } else { out[k] = theme[k]; }
    });
    delete out.width;  // the container decides: responsive
    out.autosize = true;
    return out;
  }
  // Plotly does not wrap titles: break a long one into lines that fit a narrow figure.
  function wrapTitle(layout, width) {
    var t = layout.title;
    var text = typeof t === "string" ? t : (t && t.text);
    var per = Math.max(16, Math.floor(width / 9));
    if (!text || text.length <= per || text.indexOf("<br") !== -1) { return; }
    var lines = [], line = "";
    text.split(" ").forEach(function (word) {
      if (line && (line + " " + word).length > per) { lines.push(line); line = word; }
      else { line = line ? line + " " + word : word; }
    });
    lines.push(line);
    var title = typeof t === "string" ? {} : Object.assign({}, t);
    title.text = lines.join("<br>");
    layout.title = title;
    var margin = Object.assign({}, layout.margin || {});
    margin.t = Math.max(margin.t || 0, 30 + 22 * lines.length);
    layout.margin = margin;
  }
  function drawPlots() {
    if (!window.Plotly) { return; }
    var theme = themeLayout();
    document.querySelectorAll("div.plot[data-figure]").forEach(function (div) {
      var src = document.getElementById(div.getAttribute("data-figure"));
      if (!src) { return; }
      var fig = JSON.parse(src.textContent);
      var layout = merged(fig.layout || {}, theme);
      wrapTitle(layout, div.clientWidth);
      window.Plotly.newPlot(div, fig.data || [], layout, {responsive: true, displaylogo: false});
      div.setAttribute("data-rendered", "1");
    });
  }
  window.addEventListener("load", drawPlots);
  if (dark && dark.addEventListener) { dark.addEventListener("change", drawPlots); }
  // Waits after wrong answers: count down, then enable the button.
  function tick() {
    document.querySelectorAll(".countdown[data-until]").forEach(function (el) {
      var left = Math.ceil((new Date(el.getAttribute("data-until")) - new Date()) / 1000);
      el.textContent = left > 0 ? left + " s left" : "you can try again now";
      if (left <= 0) {
        var form = el.closest("form");
        var btn = form && form.querySelector("button[data-wait-until]");
        if (btn) { btn.disabled = false; }
      }
    });
  }
  tick(); setInterval(tick, 1000);
  // The one live Markdown preview (explanations here, statements and prompts in mentor.js): the
  // server renders it with the sanitiser of every page; over `max` characters it only says so.
  window.mipPreview = function (area, out, max) {
    var csrf = document.querySelector('input[name="csrf_token"]');
    if (max && area.value.length > max) {
      out.textContent = "Too long: " + area.value.length + " characters (at most " + max + ").";
      return;
    }
    fetch(area.getAttribute("data-preview-url"), {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "Accept": "application/json",
                "X-CSRFToken": csrf ? csrf.value : ""},
      body: JSON.stringify({markdown: area.value})
    }).then(function (r) { return r.json(); }).then(function (data) {
      if (data.html !== undefined) { out.innerHTML = data.html; }  // sanitised by the server (nh3)
      else if (data.error) { out.textContent = data.error.message; }
    }).catch(function () { out.textContent = "Preview unavailable."; });
  };
  // Explanations: a live Markdown preview (rendered by the server's sanitiser) and the word
  // count against the question's budget (over the budget is allowed, only flagged).
  document.querySelectorAll("textarea[data-explanation-preview]").forEach(function (area) {
    var out = document.getElementById(area.getAttribute("data-explanation-preview"));
    var counter = document.getElementById(area.getAttribute("data-word-count") || "");
    var budget = parseInt(area.getAttribute("data-word-budget") || "0", 10);
    var max = parseInt(area.getAttribute("data-max") || "0", 10);
    var timer = null;
    var count = function () {
      if (!counter) { return; }
      var words = (area.value.match(/\S+/g) || []).length;
      var over = budget && words > budget;
      counter.textContent = words + (budget ? " / " + budget : "") + " words" +
        (over ? " (over the budget: allowed, but keep it short)" : "");
      counter.classList.toggle("over-budget", !!over);
    };
    var render = function () { if (out) { window.mipPreview(area, out, max); } };
    area.addEventListener("input", function () { count(); clearTimeout(timer); timer = setTimeout(render, 400); });
  });
  // Figures being computed: poll the job's progress and reload when the figure exists.
  var boxes = document.querySelectorAll(".job-progress[data-progress-url]");
  if (boxes.length) {
    var url = boxes[0].getAttribute("data-progress-url");
    var poll = function () {
      fetch(url, {headers: {"Accept": "application/json"}}).then(function (r) { return r.json(); }).then(function (data) {
        var done = true;
        data.figures.forEach(function (f) {
          var box = document.querySelector('.job-progress[data-figure-key="' + f.figure + '"]');
          if (f.ready) { if (box) { window.location.reload(); } return; }
          done = false;
          if (box && f.job) {
            box.innerHTML = "";
            var p = document.createElement("p");
            if (f.job.status === "failed") {  // the message: the cause for mentors, generic otherwise
              p.className = "error-message"; p.textContent = f.job.message; box.appendChild(p); return;
            }
            p.textContent = "Computing this figure: " + f.job.stage + " (" + f.job.progress + "%, " + f.job.status + ").";
            var bar = document.createElement("progress"); bar.max = 100; bar.value = f.job.progress;
            box.appendChild(p); box.appendChild(bar);
          }
        });
        if (!done) { setTimeout(poll, 2000); }
      }).catch(function () { setTimeout(poll, 5000); });
    };
    setTimeout(poll, 2000);
  }
})();
