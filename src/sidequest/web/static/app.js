// sidequest dashboard: the only script the pages load (the CSP allows no inline script).
// It does four small things: select-all boxes, confirm prompts, the interval picker and the live graph.
(function () {
  "use strict";

  function each(selector, fn, root) {
    Array.prototype.forEach.call((root || document).querySelectorAll(selector), fn);
  }

  // Select-all checkbox in a bulk form: toggles every row's checkbox of that form.
  each("input[data-select-all]", function (box) {
    box.addEventListener("change", function () {
      each("input[type=checkbox][name=key]", function (row) { row.checked = box.checked; }, box.form);
    });
  });

  // Destructive buttons ask first: <button data-confirm="Delete all 12 jobs?">.
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-confirm]") : null;
    if (button && !window.confirm(button.getAttribute("data-confirm"))) {
      event.preventDefault();
    }
  });

  // Selects that change the page at once (page size, history days): submit their GET form.
  each("select[data-autosubmit]", function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });

  // The smallest 1, 2 or 5 x 10^n at or above value: four such steps make the grid's round numbers.
  function niceTop(value) {
    var magnitude = 1;
    while (magnitude * 10 <= value) { magnitude *= 10; }
    while (magnitude > value && magnitude > 0.01) { magnitude /= 10; }
    var factors = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < factors.length; i++) {
      if (value <= factors[i] * magnitude) { return factors[i] * magnitude; }
    }
    return 10 * magnitude;
  }

  function formatNumber(n) {
    return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  }

  // Live graph: polls /stats every interval and plots processed and failed per interval.
  var graph = document.getElementById("live-graph");
  if (!graph) { return; }
  var statsUrl = graph.getAttribute("data-stats-url");
  var picker = document.getElementById("poll-interval");
  var stored = window.localStorage ? window.localStorage.getItem("sidequestPollInterval") : null;
  var interval = parseFloat(stored || graph.getAttribute("data-interval") || "2");
  if (picker) {
    if (stored) { picker.value = stored; }
    if (picker.value !== String(interval)) { interval = parseFloat(picker.value); }
  }
  var width = 800, height = 200, maxPoints = 60;
  var processed = [], failed = [], last = null, timer = null, polls = 0;
  var NS = "http://www.w3.org/2000/svg";
  var svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", "0 0 " + width + " " + (height + 20));
  svg.setAttribute("class", "chart");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "processed and failed jobs per poll interval");
  graph.appendChild(svg);

  function line(cls, values, top) {
    var step = width / (maxPoints - 1);
    var offset = maxPoints - values.length;
    var points = values.map(function (v, i) {
      var x = (offset + i) * step;
      var y = height - (top ? (v / top) * (height - 10) : 0);
      return x.toFixed(1) + "," + y.toFixed(1);
    }).join(" ");
    var poly = document.createElementNS(NS, "polyline");
    poly.setAttribute("class", cls);
    poly.setAttribute("points", points);
    return poly;
  }

  function draw() {
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    var top = 4 * niceTop(Math.max.apply(null, [4].concat(processed, failed)) / 4);
    for (var g = 0; g <= 4; g++) {
      var y = height - g * (height - 10) / 4;
      var grid = document.createElementNS(NS, "line");
      grid.setAttribute("class", g === 0 ? "axis" : "gridline");
      grid.setAttribute("x1", "0"); grid.setAttribute("x2", String(width));
      grid.setAttribute("y1", String(y)); grid.setAttribute("y2", String(y));
      svg.appendChild(grid);
      var label = document.createElementNS(NS, "text");
      label.setAttribute("x", "4"); label.setAttribute("y", String(y - 3));
      label.textContent = formatNumber(Math.round(top * g / 4 * 10) / 10);
      if (g > 0) { svg.appendChild(label); }
    }
    svg.appendChild(line("processed", processed, top));
    svg.appendChild(line("failed", failed, top));
    graph.setAttribute("data-polls", String(polls));
  }

  function setText(id, text) {
    var el = document.getElementById(id);
    if (el) { el.textContent = text; }
  }

  function poll() {
    fetch(statsUrl, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (stats) {
        var now = stats.sidekiq;
        if (last) {
          processed.push(Math.max(0, now.processed - last.processed));
          failed.push(Math.max(0, now.failed - last.failed));
          if (processed.length > maxPoints) { processed.shift(); failed.shift(); }
          setText("live-processed", formatNumber(processed[processed.length - 1]));
          setText("live-failed", formatNumber(failed[failed.length - 1]));
        }
        if (!last) {
          // The first poll has no delta yet: start both lines at 0 so the next point draws a segment.
          processed.push(0);
          failed.push(0);
        }
        last = now;
        polls += 1;
        ["processed", "failed", "busy", "enqueued", "retries", "scheduled", "dead"].forEach(function (name) {
          setText("summary-" + name, formatNumber(now[name]));
        });
        setText("live-updated", stats.server_utc_time);
        draw();
      })
      .catch(function () { setText("live-updated", "the dashboard did not answer; retrying"); });
  }

  function start() {
    if (timer) { window.clearInterval(timer); }
    timer = window.setInterval(poll, interval * 1000);
  }

  if (picker) {
    picker.addEventListener("change", function () {
      interval = parseFloat(picker.value);
      if (window.localStorage) { window.localStorage.setItem("sidequestPollInterval", picker.value); }
      start();
    });
  }
  draw();
  poll();
  start();
})();
