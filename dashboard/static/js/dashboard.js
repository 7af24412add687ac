/* Dashboard page logic: live updates (Socket.IO, with a polling fallback), emergency and
 * strategy controls with their acknowledgement, alert toasts. No inline scripts (CSP). */
(function () {
  "use strict";

  var body = document.body;
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.content : "";
  var loggedIn = body.dataset.loggedIn === "1";
  var fallbackMs = Math.max(2, parseFloat(body.dataset.fallbackRefresh || "10")) * 1000;
  var toasts = document.getElementById("toasts");
  var banner = document.getElementById("command-banner");

  // ------------------------------------------------------------------ helpers
  function byId(id) { return document.getElementById(id); }

  function toast(text, cls) {
    var el = document.createElement("div");
    el.className = "toast " + (cls || "");
    el.textContent = text;
    toasts.appendChild(el);
    setTimeout(function () { el.remove(); }, 10000);
  }

  function fmtTime(wall) {
    // 24-hour UTC like every other time on the dashboard (not the browser's local 12-hour clock).
    if (!wall) { return "-"; }
    return new Date(wall * 1000).toISOString().slice(11, 19) + " UTC";
  }

  // ------------------------------------------------------------------ live fragments
  var inflight = new Map();

  function fragmentUrl(name) {
    var u = new URL(window.location.href);
    u.searchParams.set("fragment", name);
    return u.toString();
  }

  // ------------------------------------------------------------------ sortable tables
  // Click a header to sort by it (again: reverse); the order survives live refreshes.
  var sortState = {};

  function cellKey(row, col) {
    var td = row.children[col];
    if (!td) { return ""; }
    var raw = td.dataset.sort !== undefined ? td.dataset.sort : td.textContent.trim();
    var n = parseFloat(String(raw).replace(/[$,%+]/g, ""));
    return raw !== "" && !isNaN(n) ? n : String(raw).toLowerCase();
  }

  function applySort(table) {
    var st = sortState[table.id];
    var body = table.tBodies[0];
    if (!st || !body) { return; }
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = cellKey(a, st.col);
      var y = cellKey(b, st.col);
      if (x === y) { return 0; }
      if (x === "") { return 1; }
      if (y === "") { return -1; }
      if (typeof x !== typeof y) { return typeof x === "number" ? -1 : 1; }
      return (x < y ? -1 : 1) * st.dir;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    table.querySelectorAll("thead th").forEach(function (th, i) {
      th.dataset.sorted = i === st.col ? (st.dir > 0 ? "asc" : "desc") : "";
    });
  }

  document.addEventListener("click", function (ev) {
    var th = ev.target.closest ? ev.target.closest("table.sortable thead th") : null;
    if (!th) { return; }
    var table = th.closest("table");
    var col = Array.prototype.indexOf.call(th.parentNode.children, th);
    var prev = sortState[table.id];
    // Numbers sort best first (descending) on the first click, text ascending.
    var first = table.tBodies[0] && table.tBodies[0].rows[0];
    var numeric = first && typeof cellKey(first, col) === "number";
    var dir = prev && prev.col === col ? -prev.dir : (numeric ? -1 : 1);
    sortState[table.id] = { col: col, dir: dir };
    applySort(table);
  });

  function refreshSection(sec) {
    var st = inflight.get(sec);
    if (!st) { st = { running: false, again: false }; inflight.set(sec, st); }
    if (st.running) { st.again = true; return; }
    st.running = true;
    fetch(fragmentUrl(sec.dataset.fragment), {
      headers: { "Accept": "text/html" }, credentials: "same-origin"
    }).then(function (r) {
      return r.ok ? r.text() : null;
    }).then(function (html) {
      if (html !== null) {
        // Server-rendered by Jinja (escaped there), same origin.
        sec.innerHTML = html;
        sec.querySelectorAll("table.sortable").forEach(applySort);
        sec.dataset.refreshed = String(Date.now());
      }
    }).catch(function () { /* the next update or the fallback timer retries */ })
      .finally(function () {
        st.running = false;
        if (st.again) { st.again = false; refreshSection(sec); }
      });
  }

  function refreshTopics(topics) {
    document.querySelectorAll("[data-fragment][data-topics]").forEach(function (sec) {
      var want = sec.dataset.topics.split(",");
      if (topics === null || want.some(function (t) { return topics.indexOf(t) >= 0; })) {
        refreshSection(sec);
      }
    });
    document.dispatchEvent(new CustomEvent("dashboard:update", { detail: { topics: topics } }));
  }

  // ------------------------------------------------------------------ status bar
  function setStatus(s) {
    if (!s) { return; }
    var run = byId("bot-running");
    run.textContent = s.running ? "BOT RUNNING" : "BOT STOPPED";
    run.className = "badge " + (s.running ? "ok" : "bad");
    run.title = s.message;
    var ts = byId("trading-state");
    ts.textContent = s.trading_state;
    ts.className = "badge state-" + s.trading_state;
    var resume = byId("btn-deactivate");
    if (resume) { resume.classList.toggle("hidden", s.trading_state === "ACTIVE"); }
    var msg = byId("bot-message");
    if (s.running) {
      msg.classList.add("hidden");
    } else {
      msg.textContent = s.message + " Control commands are queued and apply when the bot starts.";
      msg.classList.remove("hidden");
    }
  }

  function setLive(text, cls) {
    var el = byId("live-indicator");
    el.textContent = text;
    el.className = "badge " + cls;
    body.dataset.live = text;
  }

  // ------------------------------------------------------------------ commands
  var tracked = new Map();

  function showCommand(c) {
    var text, cls;
    if (c.status === "pending") {
      var t = tracked.get(c.id);
      text = "#" + c.id + " " + c.command + ": " + (t && t.message ? t.message : "waiting for the bot…");
      cls = "pending";
    } else {
      var lat = c.ack_latency_s === null || c.ack_latency_s === undefined ? "" :
        " (" + c.ack_latency_s.toFixed(2) + " s after sending)";
      text = "#" + c.id + " " + c.command + " " + c.status + " at " + fmtTime(c.applied_wall) +
        lat + (c.result ? ": " + c.result : "");
      cls = c.status === "applied" ? "ok" : "bad";
    }
    banner.textContent = text;
    banner.className = "banner " + cls;
    banner.dataset.commandId = String(c.id);
    banner.dataset.status = c.status;
  }

  function pollCommand(id) {
    var t = tracked.get(id);
    if (!t || t.done) { return; }
    fetch("/api/commands/" + id, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (j) { if (j) { onCommand(j.command); } })
      .catch(function () { /* retried below */ })
      .finally(function () {
        var t2 = tracked.get(id);
        if (t2 && !t2.done) { setTimeout(function () { pollCommand(id); }, 1000); }
      });
  }

  function onCommand(c) {
    var t = tracked.get(c.id);
    if (t) {
      if (c.status !== "pending") {
        if (!t.done) { toast("Command #" + c.id + " " + c.command + " " + c.status + (c.result ? ": " + c.result : ""), c.status === "applied" ? "ok" : "bad"); }
        t.done = true;
      }
      // An older command's late acknowledgement must not hide the newest command's banner.
      if (c.id >= Number(banner.dataset.commandId || 0)) { showCommand(c); }
    } else if (c.command.indexOf("kill_switch") === 0 && c.status !== "pending") {
      toast("Kill switch command #" + c.id + " " + c.status + (c.result ? ": " + c.result : ""), "info");
    }
  }

  function trackCommand(resp) {
    var c = resp.command;
    tracked.set(c.id, { done: false, message: resp.message });
    showCommand(c);
    setTimeout(function () { pollCommand(c.id); }, 500);
  }

  function login(token) {
    var fd = new URLSearchParams();
    fd.set("token", token);
    fd.set("csrf_token", csrf);
    return fetch("/login", {
      method: "POST", body: fd, credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRF-Token": csrf }
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) {
        if (!r.ok) { throw new Error(j.error || "Login failed."); }
        csrf = j.csrf_token;
        if (csrfMeta) { csrfMeta.content = csrf; }
        document.querySelectorAll('input[name="csrf_token"]').forEach(function (el) { el.value = csrf; });
        loggedIn = true;
        body.dataset.loggedIn = "1";
        document.querySelectorAll(".token-field").forEach(function (el) { el.classList.add("hidden"); });
      });
    });
  }

  function sendCommand(endpoint, payload) {
    return fetch(endpoint, {
      method: "POST", credentials: "same-origin", body: JSON.stringify(payload),
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf }
    }).then(function (r) {
      return r.json().catch(function () { return { error: "unexpected response (HTTP " + r.status + ")" }; })
        .then(function (j) {
          if (!r.ok) {
            if (r.status === 401) { loggedIn = false; showTokenFields(); }
            throw new Error(j.error || ("HTTP " + r.status));
          }
          trackCommand(j);
          return j;
        });
    });
  }

  function showTokenFields() {
    document.querySelectorAll(".token-field").forEach(function (el) { el.classList.toggle("hidden", loggedIn); });
  }

  function formPayload(form) {
    var out = {};
    new FormData(form).forEach(function (v, k) { if (k !== "token" && k !== "action") { out[k] = v; } });
    form.querySelectorAll('input[type="checkbox"]').forEach(function (cb) { out[cb.name] = cb.checked; });
    return out;
  }

  function withLogin(form) {
    var tokenInput = form.querySelector('input[name="token"]');
    if (loggedIn) { return Promise.resolve(); }
    if (!tokenInput || !tokenInput.value) {
      return Promise.reject(new Error("Log in first, or enter the access token."));
    }
    return login(tokenInput.value).then(function () { tokenInput.value = ""; });
  }

  function wireCommandForm(form, endpointFor, onDone) {
    form.addEventListener("submit", function (ev) {
      var submitter = ev.submitter;
      if (submitter && submitter.value === "cancel") { return; }
      ev.preventDefault();
      var err = form.querySelector(".form-error");
      if (err) { err.textContent = ""; }
      var endpoint = endpointFor(submitter);
      var payload = formPayload(form);
      var buttons = form.querySelectorAll("button");
      buttons.forEach(function (b) { b.disabled = true; });
      withLogin(form).then(function () { return sendCommand(endpoint, payload); })
        .then(function () { if (onDone) { onDone(); } })
        .catch(function (e) { if (err) { err.textContent = e.message; } })
        .finally(function () { buttons.forEach(function (b) { b.disabled = false; }); });
    });
  }

  function wireDialog(buttonId, dialogId) {
    var btn = byId(buttonId);
    var dlg = byId(dialogId);
    if (!btn || !dlg) { return; }
    var form = dlg.querySelector("form");
    btn.addEventListener("click", function () {
      form.reset();
      form.querySelector(".form-error").textContent = "";
      showTokenFields();
      dlg.showModal();
    });
    wireCommandForm(form, function () { return form.dataset.endpoint; }, function () { dlg.close(); });
  }

  wireDialog("btn-estop", "dlg-estop");
  wireDialog("btn-deactivate", "dlg-deactivate");
  wireDialog("btn-flatten", "dlg-flatten");
  showTokenFields();

  // Breaker reset (risk page): the table is re-rendered live, so the buttons are delegated.
  var brDlg = byId("dlg-breaker-reset");
  if (brDlg) {
    var brForm = brDlg.querySelector("form");
    wireCommandForm(brForm, function () { return brForm.dataset.endpoint; }, function () { brDlg.close(); });
    document.addEventListener("click", function (ev) {
      var b = ev.target.closest ? ev.target.closest(".breaker-reset") : null;
      if (!b) { return; }
      brForm.reset();
      brForm.querySelector(".form-error").textContent = "";
      brForm.elements.breaker.value = b.dataset.breaker;
      brForm.elements.strategy.value = b.dataset.strategy || "";
      brDlg.querySelector(".breaker-label").textContent =
        b.dataset.breaker + (b.dataset.strategy ? ":" + b.dataset.strategy : "");
      showTokenFields();
      brDlg.showModal();
    });
  }

  // Generic command dialogs (Graduation page): a button.cmd-open names its dialog.cmd-dialog
  // (data-dialog), the endpoint (data-endpoint), hidden fields (data-field-NAME) and a title.
  document.querySelectorAll("dialog.cmd-dialog").forEach(function (dlg) {
    var form = dlg.querySelector("form");
    wireCommandForm(form, function () { return form.dataset.endpoint; }, function () { dlg.close(); });
  });
  document.addEventListener("click", function (ev) {
    var b = ev.target.closest ? ev.target.closest(".cmd-open") : null;
    if (!b) { return; }
    var dlg = byId(b.dataset.dialog);
    if (!dlg) { return; }
    var form = dlg.querySelector("form");
    form.reset();
    form.querySelector(".form-error").textContent = "";
    form.dataset.endpoint = b.dataset.endpoint;
    Object.keys(b.dataset).forEach(function (k) {
      if (k.indexOf("field") === 0 && k.length > 5) {
        var n = k.charAt(5).toLowerCase() + k.slice(6);
        if (form.elements[n]) { form.elements[n].value = b.dataset[k]; }
      }
    });
    var title = dlg.querySelector(".dlg-title");
    if (title) { title.textContent = b.dataset.title || ""; }
    showTokenFields();
    dlg.showModal();
  });

  var ac = byId("all-controls");
  if (ac) {
    wireCommandForm(ac, function (submitter) {
      return ac.dataset.endpointBase.replace("ACTION", submitter ? submitter.value : "pause");
    }, function () { ac.querySelector('input[name="reason"]').value = ""; });
  }

  var sc = byId("strategy-controls");
  if (sc) {
    wireCommandForm(sc, function (submitter) {
      return sc.dataset.endpointBase.replace("ACTION", submitter ? submitter.value : "pause");
    }, function () { sc.querySelector('input[name="reason"]').value = ""; });
  }

  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest ? ev.target.closest(".close-position") : null;
    if (!btn) { return; }
    if (!loggedIn) {
      window.location.href = "/login?next=" + encodeURIComponent(window.location.pathname);
      return;
    }
    var reason = window.prompt("Close " + btn.dataset.strategy + "'s position in " + btn.dataset.instrument + "? Reason:");
    if (!reason) { return; }
    sendCommand("/api/positions/close", {
      strategy: btn.dataset.strategy, instrument_id: btn.dataset.instrument, reason: reason
    }).catch(function (e) { toast(e.message, "bad"); });
  });

  // Alert form: show only the fields of the chosen kind.
  var kind = byId("alert-kind");
  if (kind) {
    var sync = function () {
      document.querySelectorAll("#alert-form [data-kinds]").forEach(function (el) {
        el.hidden = el.dataset.kinds.split(" ").indexOf(kind.value) < 0;
      });
    };
    kind.addEventListener("change", sync);
    sync();
  }

  // ------------------------------------------------------------------ socket + fallback
  var fallbackTimer = null;

  function pollStatus() {
    fetch("/api/health", { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (j) { if (j) { setStatus(j.bot); } })
      .catch(function () { setLive("offline", "bad"); });
  }

  function startFallback() {
    setLive("polling", "muted");
    if (fallbackTimer) { return; }
    fallbackTimer = setInterval(function () { refreshTopics(null); pollStatus(); }, fallbackMs);
  }

  function stopFallback() {
    if (fallbackTimer) { clearInterval(fallbackTimer); fallbackTimer = null; }
  }

  function onUpdate(p) {
    setStatus(p.status);
    body.dataset.lastUpdate = String(Date.now());
    if (p.topics && p.topics.length) { refreshTopics(p.topics); }
    (p.triggers || []).forEach(function (t) {
      toast("Alert #" + t.alert_id + ": " + t.description + " — " + t.message, "alert");
    });
    (p.commands || []).forEach(onCommand);
  }

  if (typeof window.io === "function") {
    var socket = window.io({ reconnectionDelayMax: 10000 });
    socket.on("connect", function () { stopFallback(); setLive("live", "ok"); });
    socket.on("disconnect", startFallback);
    socket.on("connect_error", startFallback);
    socket.on("update", onUpdate);
  } else {
    startFallback();
  }
})();
