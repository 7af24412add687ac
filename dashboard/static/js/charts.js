/* Equity / return / drawdown charts (Chart.js, vendored). A canvas.chart declares what it shows:
 * data-url (JSON history endpoint), data-field (series key), data-label, data-window (id of the
 * window <select>), data-topics (refresh on these live-update topics), data-fill. */
(function () {
  "use strict";
  if (typeof window.Chart !== "function") { return; }

  var Chart = window.Chart;
  Chart.defaults.color = "#c9d1d9";
  Chart.defaults.borderColor = "#30363d";
  Chart.defaults.font.size = 11;

  var PALETTE = ["#58a6ff", "#3fb950", "#f0883e", "#bc8cff", "#ff7b72", "#39c5cf", "#d29922",
    "#f778ba", "#a5d6ff", "#7ee787", "#ffa657", "#d2a8ff"];
  var MIN_RELOAD_MS = 3000;

  function pad(n) { return n < 10 ? "0" + n : String(n); }

  function fmtTick(ms, spanMs) {
    var d = new Date(ms);
    var hm = pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes());
    if (spanMs > 2 * 86400e3) { return pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) + " " + hm; }
    if (spanMs < 2 * 3600e3) { return hm + ":" + pad(d.getUTCSeconds()); }
    return hm;
  }

  function make(canvas) {
    var state = { span: 3600e3, last: 0, timer: null, busy: false };
    var chart = new Chart(canvas, {
      type: "line",
      data: { datasets: [] },
      options: {
        animation: false, parsing: false, normalized: true, responsive: true,
        maintainAspectRatio: false,
        interaction: { mode: "nearest", axis: "x", intersect: false },
        elements: { point: { radius: 0 }, line: { borderWidth: 1.5, tension: 0 } },
        scales: {
          x: { type: "linear", title: { display: true, text: "Market time (UTC)" },
            ticks: { maxTicksLimit: 8, callback: function (v) { return fmtTick(v, state.span); } } },
          y: { title: { display: true, text: canvas.dataset.label || "" } }
        },
        plugins: {
          legend: { labels: { boxWidth: 12 } },
          tooltip: { callbacks: { title: function (items) {
            return items.length ? new Date(items[0].parsed.x).toISOString().replace("T", " ").slice(0, 19) + " UTC" : "";
          } } }
        }
      }
    });
    var entry = { canvas: canvas, chart: chart, state: state };
    return entry;
  }

  function windowHours(canvas) {
    var sel = document.getElementById(canvas.dataset.window || "");
    return sel ? sel.value : "24";
  }

  function load(entry) {
    var st = entry.state;
    if (st.busy) { return; }
    st.busy = true;
    st.last = Date.now();
    var canvas = entry.canvas;
    var url = new URL(canvas.dataset.url, window.location.href);
    url.searchParams.set("hours", windowHours(canvas));
    var field = canvas.dataset.field;
    fetch(url.toString(), { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (j) {
        if (!j) { return; }
        var points = 0;
        var lo = Infinity;
        var hi = -Infinity;
        j.series.forEach(function (s) {
          if (s.ts.length) { lo = Math.min(lo, s.ts[0]); hi = Math.max(hi, s.ts[s.ts.length - 1]); }
        });
        st.span = hi > lo ? (hi - lo) * 1000 : 3600e3;  // label ticks by the data actually shown
        // The time axis starts at the first point and ends at the last (no padding before it).
        entry.chart.options.scales.x.min = hi > lo ? lo * 1000 : undefined;
        entry.chart.options.scales.x.max = hi > lo ? hi * 1000 : undefined;
        entry.chart.data.datasets = j.series.map(function (s, i) {
          var color = PALETTE[i % PALETTE.length];
          var data = s.ts.map(function (t, k) { return { x: t * 1000, y: s[field][k] }; });
          points += data.length;
          return {
            label: s.strategy, data: data, borderColor: color,
            backgroundColor: color + "33", fill: canvas.dataset.fill ? "origin" : false
          };
        });
        entry.chart.update("none");
        canvas.dataset.points = String(points);
        canvas.dataset.loaded = String(Date.now());
      })
      .catch(function () { /* next update retries */ })
      .finally(function () { st.busy = false; });
  }

  function schedule(entry) {
    var st = entry.state;
    var wait = st.last + MIN_RELOAD_MS - Date.now();
    var fn = entry.price ? loadPrice : load;
    if (wait <= 0) { fn(entry); return; }
    if (!st.timer) {
      st.timer = setTimeout(function () { st.timer = null; fn(entry); }, wait);
    }
  }

  // ---------------------------------------------------------------- price chart with fills
  // canvas.price-chart: data-url (prices endpoint), data-market (id of the market <select>),
  // data-window, data-topics. Draws the mid (and last trade) with the strategy's buys (green
  // triangles) and sells (red, pointing down); a marker's tooltip gives side, size, price,
  // time UTC and liquidity.
  var BUY = "#3fb950";
  var SELL = "#ff7b72";

  function utc(ms) { return new Date(ms).toISOString().replace("T", " ").slice(0, 19) + " UTC"; }

  function makePrice(canvas) {
    var state = { span: 3600e3, last: 0, timer: null, busy: false };
    var chart = new Chart(canvas, {
      type: "line",
      data: { datasets: [] },
      options: {
        animation: false, parsing: false, normalized: true, responsive: true,
        maintainAspectRatio: false,
        interaction: { mode: "nearest", intersect: false },
        elements: { point: { radius: 0 }, line: { borderWidth: 1.5, tension: 0 } },
        scales: {
          x: { type: "linear", title: { display: true, text: "Market time (UTC)" },
            ticks: { maxTicksLimit: 8, callback: function (v) { return fmtTick(v, state.span); } } },
          y: { title: { display: true, text: "Price (probability)" } }
        },
        plugins: {
          legend: { labels: { boxWidth: 12 } },
          tooltip: { callbacks: {
            title: function (items) { return items.length ? utc(items[0].parsed.x) : ""; },
            label: function (item) {
              var f = item.raw && item.raw.fill;
              if (!f) { return item.dataset.label + ": " + item.parsed.y.toFixed(3); }
              return f.side + " " + f.size_shares + " @ " + f.price.toFixed(3) + " · " +
                f.liquidity + " · fee $" + (f.fee_usd || 0).toFixed(2) + " · " + utc(f.ts * 1000);
            }
          } }
        }
      }
    });
    return { canvas: canvas, chart: chart, state: state, price: true };
  }

  function loadPrice(entry) {
    var st = entry.state;
    if (st.busy) { return; }
    st.busy = true;
    st.last = Date.now();
    var canvas = entry.canvas;
    var url = new URL(canvas.dataset.url, window.location.href);
    url.searchParams.set("hours", windowHours(canvas));
    var sel = document.getElementById(canvas.dataset.market || "");
    if (sel && sel.value) { url.searchParams.set("instrument", sel.value); }
    fetch(url.toString(), { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (j) {
        if (!j || !j.price) { return; }
        var p = j.price;
        var mid = p.ts.map(function (t, k) { return { x: t * 1000, y: p.mid[k] }; })
          .filter(function (pt) { return pt.y !== null; });
        var last = p.ts.map(function (t, k) { return { x: t * 1000, y: p.last[k] }; })
          .filter(function (pt) { return pt.y !== null; });
        function marks(side) {
          return j.fills.filter(function (f) { return f.side === side; })
            .map(function (f) { return { x: f.ts * 1000, y: f.price, fill: f }; });
        }
        var buys = marks("BUY");
        var sells = marks("SELL");
        entry.chart.data.datasets = [
          { label: "Mid", data: mid, borderColor: PALETTE[0], backgroundColor: PALETTE[0] },
          { label: "Last trade", data: last, borderColor: "#8b949e", backgroundColor: "#8b949e",
            borderDash: [4, 3], borderWidth: 1, hidden: last.length === 0 },
          { label: "Buys", data: buys, showLine: false, pointStyle: "triangle", pointRadius: 7,
            pointHoverRadius: 9, borderColor: BUY, backgroundColor: BUY },
          { label: "Sells", data: sells, showLine: false, pointStyle: "triangle", rotation: 180,
            pointRadius: 7, pointHoverRadius: 9, borderColor: SELL, backgroundColor: SELL }
        ];
        var lo = j.since_ts;
        var hi = j.until_ts;
        st.span = lo !== null && hi > lo ? (hi - lo) * 1000 : 3600e3;
        // Axis from the first point to the last (a lone point gets a minute either side).
        var pad = lo !== null && hi > lo ? 0 : 60e3;
        entry.chart.options.scales.x.min = lo !== null ? lo * 1000 - pad : undefined;
        entry.chart.options.scales.x.max = hi !== null ? hi * 1000 + pad : undefined;
        entry.chart.update("none");
        canvas.dataset.points = String(mid.length);
        canvas.dataset.markers = String(buys.length + sells.length);
        canvas.dataset.buys = String(buys.length);
        canvas.dataset.sells = String(sells.length);
        canvas.dataset.source = j.source || "";
        canvas.dataset.loaded = String(Date.now());
      })
      .catch(function () { /* next update retries */ })
      .finally(function () { st.busy = false; });
  }

  var entries = [];
  document.querySelectorAll("canvas.chart").forEach(function (c) { entries.push(make(c)); });
  document.querySelectorAll("canvas.price-chart").forEach(function (c) {
    var e = makePrice(c);
    entries.push(e);
    var sel = document.getElementById(c.dataset.market || "");
    if (sel) { sel.addEventListener("change", function () { loadPrice(e); }); }
  });
  entries.forEach(function (e) { (e.price ? loadPrice : load)(e); });

  document.querySelectorAll("select.chart-window").forEach(function (sel) {
    sel.addEventListener("change", function () {
      entries.forEach(function (e) {
        if (e.canvas.dataset.window === sel.id) { (e.price ? loadPrice : load)(e); }
      });
    });
  });

  document.addEventListener("dashboard:update", function (ev) {
    var topics = ev.detail.topics;
    entries.forEach(function (e) {
      var want = (e.canvas.dataset.topics || "").split(",");
      if (topics === null || want.some(function (t) { return topics.indexOf(t) >= 0; })) { schedule(e); }
    });
  });
})();
