/* Allocation pie and closed-bet P&L distribution (Chart.js, vendored). A canvas.gchart carries its
 * first data in data-json; data-kind is "pie" (labels, values) or "distribution" (edges, wins,
 * losses); data-url (JSON: {allocation, distribution}) and data-topics make it live: on a
 * live update of those topics (dashboard.js "dashboard:update") the data is fetched again and the
 * chart redrawn in place (at most every MIN_RELOAD_MS). */
(function () {
  "use strict";
  if (typeof window.Chart !== "function") { return; }
  var Chart = window.Chart;
  var PALETTE = ["#58a6ff", "#3fb950", "#f0883e", "#bc8cff", "#ff7b72", "#39c5cf", "#d29922",
    "#f778ba", "#a5d6ff", "#7ee787", "#ffa657", "#d2a8ff"];
  var MIN_RELOAD_MS = 3000;

  function colors(labels) { return labels.map(function (_, i) { return PALETTE[i % PALETTE.length]; }); }

  function pieData(d) {
    return { labels: d.labels, datasets: [{ data: d.values, backgroundColor: colors(d.labels) }] };
  }

  function pie(canvas, d) {
    return new Chart(canvas, {
      type: "pie",
      data: pieData(d),
      options: { animation: false, responsive: true, maintainAspectRatio: false,
        plugins: { title: { display: true, text: "Capital by strategy (USD)" },
          legend: { position: "right", labels: { boxWidth: 12 } } } }
    });
  }

  function distTitle(d) { return "Win/loss distribution (" + d.n + " bets)"; }

  function distData(d) {
    var labels = d.wins.map(function (_, i) {
      return d.edges[i].toFixed(2) + " to " + d.edges[i + 1].toFixed(2);
    });
    return { labels: labels, datasets: [
      { label: "wins", data: d.wins, backgroundColor: "#3fb950" },
      { label: "losses", data: d.losses, backgroundColor: "#ff7b72" }] };
  }

  function distribution(canvas, d) {
    return new Chart(canvas, {
      type: "bar",
      data: distData(d),
      options: { animation: false, responsive: true, maintainAspectRatio: false,
        scales: { x: { stacked: true, title: { display: true, text: "P&L per closed bet (USD)" } },
          y: { stacked: true, title: { display: true, text: "closed bets" } } },
        plugins: { title: { display: true, text: distTitle(d) } } }
    });
  }

  function has(canvas, d) {
    return canvas.dataset.kind === "pie" ? !!(d.values && d.values.length) : !!d.n;
  }

  function render(canvas, d) {
    var chart = Chart.getChart(canvas);
    var show = has(canvas, d);
    var empty = canvas.parentNode.querySelector(".empty");
    if (empty) { empty.classList.toggle("hidden", show); }
    if (!show) {
      if (chart) { chart.destroy(); }
    } else if (!chart) {
      if (canvas.dataset.kind === "pie") { pie(canvas, d); } else { distribution(canvas, d); }
    } else if (canvas.dataset.kind === "pie") {
      chart.data = pieData(d);
      chart.update("none");
    } else {
      chart.data = distData(d);
      chart.options.plugins.title.text = distTitle(d);
      chart.update("none");
    }
    canvas.dataset.rendered = "1";
    canvas.dataset.n = String(canvas.dataset.kind === "pie" ? (d.values || []).length : d.n || 0);
    canvas.dataset.labels = (d.labels || []).join("|");
  }

  var canvases = Array.prototype.slice.call(document.querySelectorAll("canvas.gchart"));
  canvases.forEach(function (canvas) {
    var d;
    try { d = JSON.parse(canvas.dataset.json || "{}"); } catch (e) { return; }
    render(canvas, d);
  });

  var live = canvases.filter(function (c) { return c.dataset.url; });
  var state = { last: 0, timer: null, busy: false };

  function reload() {
    if (state.busy || !live.length) { return; }
    state.busy = true;
    state.last = Date.now();
    fetch(live[0].dataset.url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (j) {
        if (!j) { return; }
        live.forEach(function (canvas) {
          var d = canvas.dataset.kind === "pie" ? j.allocation : j.distribution;
          if (d) {
            render(canvas, d);
            canvas.dataset.updates = String(Number(canvas.dataset.updates || 0) + 1);
          }
        });
      })
      .catch(function () { /* the next update retries */ })
      .finally(function () { state.busy = false; });
  }

  document.addEventListener("dashboard:update", function (ev) {
    var topics = ev.detail.topics;
    var want = live.length ? (live[0].dataset.topics || "").split(",") : [];
    if (topics !== null && !want.some(function (t) { return topics.indexOf(t) >= 0; })) { return; }
    var wait = state.last + MIN_RELOAD_MS - Date.now();
    if (wait <= 0) { reload(); return; }
    if (!state.timer) { state.timer = setTimeout(function () { state.timer = null; reload(); }, wait); }
  });
}());
