/* Allocation pie and closed-bet P&L distribution (Chart.js, vendored). A canvas.gchart carries its
 * data in data-json; data-kind is "pie" (labels, values) or "distribution" (edges, wins, losses). */
(function () {
  "use strict";
  if (typeof window.Chart !== "function") { return; }
  var Chart = window.Chart;
  var PALETTE = ["#58a6ff", "#3fb950", "#f0883e", "#bc8cff", "#ff7b72", "#39c5cf", "#d29922",
    "#f778ba", "#a5d6ff", "#7ee787", "#ffa657", "#d2a8ff"];

  function pie(canvas, d) {
    return new Chart(canvas, {
      type: "pie",
      data: { labels: d.labels, datasets: [{ data: d.values,
        backgroundColor: d.labels.map(function (_, i) { return PALETTE[i % PALETTE.length]; }) }] },
      options: { animation: false, responsive: true, maintainAspectRatio: false,
        plugins: { title: { display: true, text: "Capital by strategy (USD)" },
          legend: { position: "right", labels: { boxWidth: 12 } } } }
    });
  }

  function distribution(canvas, d) {
    var labels = d.wins.map(function (_, i) {
      return d.edges[i].toFixed(2) + " to " + d.edges[i + 1].toFixed(2);
    });
    return new Chart(canvas, {
      type: "bar",
      data: { labels: labels, datasets: [
        { label: "wins", data: d.wins, backgroundColor: "#3fb950" },
        { label: "losses", data: d.losses, backgroundColor: "#ff7b72" }] },
      options: { animation: false, responsive: true, maintainAspectRatio: false,
        scales: { x: { stacked: true, title: { display: true, text: "P&L per closed bet (USD)" } },
          y: { stacked: true, title: { display: true, text: "closed bets" } } },
        plugins: { title: { display: true, text: "Win/loss distribution (" + d.n + " bets)" } } }
    });
  }

  document.querySelectorAll("canvas.gchart").forEach(function (canvas) {
    var d;
    try { d = JSON.parse(canvas.dataset.json || "{}"); } catch (e) { return; }
    if (canvas.dataset.kind === "pie" && d.values && d.values.length) { pie(canvas, d); }
    if (canvas.dataset.kind === "distribution" && d.n) { distribution(canvas, d); }
    canvas.dataset.rendered = "1";
  });
}());
