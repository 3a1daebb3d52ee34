/* The crew app's screens. Everything shown comes from IndexedDB (FieldDB), so it works with no network;
   every action is an event in the outbox, shown at once, and sent by FieldSync when the network allows. */
(function () {
  "use strict";
  var T = JSON.parse(document.getElementById("field-strings").textContent);
  // what an event not sent yet does to the job's status: the server's rules (domain/lifecycle.py), not retyped
  var FORECAST = JSON.parse(document.getElementById("field-forecast").textContent);
  var $ = function (id) { return document.getElementById(id); };
  var state = { user: null, jobs: [], outbox: [], notices: [], done: [], pos: null, failures: 0, retryAfter: 0, timer: null, syncing: false, urls: [] };
  var MAX_BACKOFF = 5 * 60 * 1000;

  function uuid() {
    if (self.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 15) | 64; b[8] = (b[8] & 63) | 128;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  function when(iso) {
    if (!iso) return T.never;
    var d = new Date(iso);
    var opts = { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" };
    if (d.getFullYear() !== new Date().getFullYear()) opts.year = "numeric"; // "Sep 11" alone misleads in January
    return d.toLocaleString([], opts);
  }

  function sameDay(iso) { return new Date(iso).toDateString() === new Date().toDateString(); }

  function overdue(j) {
    return j.status !== "closed" && !!j.expected_at && new Date(j.expected_at).getTime() < Date.now();
  }

  function distanceM(a, b) {
    var R = 6371000, rad = Math.PI / 180;
    var dLat = (b.lat - a.lat) * rad, dLon = (b.long - a.long) * rad;
    var h = Math.sin(dLat / 2) * Math.sin(dLat / 2) +
      Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) * Math.sin(dLon / 2);
    return 2 * R * Math.asin(Math.sqrt(h));
  }

  function mine(e) { return state.user && e.user_id === state.user.id; }

  // the job as the crew sees it: the server's copy plus this phone's events not sent yet
  function view(job) {
    var v = Object.assign({}, job, { history: (job.history || []).slice(), pending: 0, local: [] });
    state.outbox.forEach(function (e) {
      if (e.job !== job.id || !mine(e)) return;
      v.pending++;
      var to = (FORECAST[e.kind === "complete" ? "complete:" + e.resolution : e.kind] || {})[v.status];
      if (to) v.status = to;
      if (e.kind === "photo" && e.blob) v.local.push(e.blob);
      v.history.push({ kind: e.kind, note: e.note, by: state.user.name, at: e.client_time, pending: true,
        to: e.kind === "complete" ? to || v.status : null });
    });
    return v;
  }

  function sortedJobs() {
    var list = state.jobs.map(view);
    list.forEach(function (j) {
      j.dist = state.pos && j.lat != null ? distanceM(state.pos, { lat: j.lat, long: j.long }) : null;
    });
    list.sort(function (a, b) {
      return ((a.status === "closed") - (b.status === "closed")) || (a.priority - b.priority) ||
        ((a.dist == null ? 1e12 : a.dist) - (b.dist == null ? 1e12 : b.dist)) ||
        String(a.expected_at || "").localeCompare(String(b.expected_at || ""));
    });
    return list;
  }

  function statusLabel(s) { return T["status_" + s] || s; }

  function renderBar(auth, last) {
    var online = navigator.onLine;
    $("net").textContent = online ? T.online : T.offline;
    $("net").className = "net " + (online ? "on" : "off");
    $("count").textContent = String(state.outbox.filter(mine).length);
    $("last").textContent = when(last);
    $("login-needed").hidden = auth !== "login";
    $("who").textContent = state.user ? "· " + state.user.name : "";
    $("sync-now").textContent = state.syncing ? T.syncing : T.sync_now;
  }

  function renderList(list) {
    var ul = $("jobs");
    ul.textContent = "";
    list.forEach(function (j) {
      var li = el("li");
      var late = overdue(j);
      var a = el("a", "job p" + j.priority + (j.status === "closed" ? " done" : "") + (late ? " overdue" : ""));
      a.href = "#job-" + j.id;
      a.dataset.job = String(j.id);
      if (late) a.appendChild(el("span", "late", T.overdue)); // the word, not the colour alone
      a.appendChild(el("span", "pri", T["p" + j.priority] || String(j.priority)));
      a.appendChild(el("strong", "svc", j.service));
      a.appendChild(el("span", "addr", j.address || (j.lat != null ? j.lat.toFixed(5) + ", " + j.long.toFixed(5) : "")));
      var bits = [statusLabel(j.status)];
      if (j.expected_at) bits.push(T.due + " " + when(j.expected_at));
      if (j.dist != null) bits.push(j.dist < 1000 ? Math.round(j.dist) + " m" : (j.dist / 1000).toFixed(1) + " km");
      a.appendChild(el("span", "info", bits.join(" · ")));
      if (j.pending) a.appendChild(el("span", "pending", j.pending + " " + T.pending));
      li.appendChild(a);
      ul.appendChild(li);
    });
    $("no-jobs").hidden = list.length > 0;
  }

  function historyText(h) {
    var what = h.kind === "status" || h.kind === "complete" ? statusLabel(h.to || "") :
      h.kind === "photo" ? T.photo : h.kind === "start" ? T.start : h.kind === "unable" ? T.unable :
      h.kind === "note" ? T.note : h.kind;
    return when(h.at) + " · " + (h.by || "") + " · " + what + (h.note ? ": " + h.note : "") + (h.pending ? " (" + T.pending + ")" : "");
  }

  function renderJob(j) {
    state.urls.forEach(function (u) { URL.revokeObjectURL(u); });
    state.urls = [];
    $("job-title").textContent = j.service + " · " + (j.public_id || "");
    $("job-meta").textContent = [overdue(j) ? T.overdue : "", T["p" + j.priority], statusLabel(j.status),
      j.expected_at ? T.due + " " + when(j.expected_at) : ""]
      .filter(Boolean).join(" · ") + (j.assigned === false ? " · " + T.reassigned : "");
    $("job-meta").classList.toggle("late", overdue(j));
    $("job-address").textContent = j.address || "";
    var nav = $("job-nav");
    nav.hidden = j.lat == null;
    if (j.lat != null) nav.href = "geo:" + j.lat + "," + j.long + "?q=" + j.lat + "," + j.long + "(" + encodeURIComponent(j.address || j.service) + ")";
    $("job-desc").textContent = j.description || "";
    var dl = $("job-answers");
    dl.textContent = "";
    (j.answers || []).forEach(function (a) { dl.appendChild(el("dt", "", a.label)); dl.appendChild(el("dd", "", a.value)); });
    var ph = $("job-photos");
    ph.textContent = "";
    (j.photos || []).forEach(function (p) {
      var img = el("img");
      img.src = p.thumb; img.alt = p.kind === "after" ? T.photo : T.resident_photos; img.loading = "lazy";
      ph.appendChild(img);
    });
    j.local.forEach(function (b) {
      var u = URL.createObjectURL(b);
      state.urls.push(u);
      var img = el("img", "local");
      img.src = u; img.alt = T.photo + " (" + T.pending + ")";
      ph.appendChild(img);
    });
    var closed = j.status === "closed";
    $("act-start").hidden = closed || !(FORECAST.start || {})[j.status]; // only where starting changes the status
    $("form-complete").hidden = closed;
    $("form-unable").hidden = closed;
    var ol = $("job-history");
    ol.textContent = "";
    j.history.slice().reverse().forEach(function (h) { ol.appendChild(el("li", h.pending ? "pending" : "", historyText(h))); });
  }

  function reasonText(n) {
    if (n.status === "conflict-recorded") return T.conflict + (n.reason === "reassigned" ? " (" + T.reassigned + ")" : "");
    return T.refused + ": " + (T["r_" + n.reason] || T.r_other + " (" + n.reason + ")");
  }

  function renderNotices() {
    var ul = $("notices");
    ul.textContent = "";
    state.notices.forEach(function (n) {
      var li = el("li", "notice " + n.status);
      li.appendChild(el("span", "", (n.label || "#" + n.job) + " · " + (T[n.kind] || n.kind) + " · " + reasonText(n)));
      var b = el("button", "link", T.dismiss);
      b.type = "button";
      b.addEventListener("click", function () { FieldDB.dismiss(n.seq).then(load); });
      li.appendChild(b);
      ul.appendChild(li);
    });
    $("notices-view").hidden = !state.notices.length;
    var held = state.outbox.filter(function (e) { return !mine(e); });
    var hu = $("held");
    hu.textContent = "";
    held.forEach(function (e) {
      hu.appendChild(el("li", "notice", (e.label || "#" + e.job) + " · " + (T[e.kind] || e.kind) + " · " + when(e.client_time)));
    });
    $("held-view").hidden = !held.length;
  }

  // jobs completed on this phone today, with where their completion is: a closed job leaves the job list
  // after the next sync, so this list is where the crew sees it went through
  function doneState(d) {
    if (d.final) return d.final.status === "refused" ? refusedState(d.final.reason) : { cls: "review", text: T.conflict };
    if (state.outbox.some(function (e) { return e.id === d.id; })) return { cls: "queued", text: T.state_queued };
    var n = state.notices.filter(function (x) { return x.id === d.id; })[0];
    if (n && n.status === "refused") return refusedState(n.reason);
    if (n) return { cls: "review", text: T.conflict };
    return { cls: "sent", text: T.state_sent };
  }

  function refusedState(reason) {
    return { cls: "refused", text: T.state_refused + ": " + (T["r_" + reason] || T.r_other + " (" + reason + ")") };
  }

  // a refusal is kept with the done entry, so dismissing the notice does not turn it into "sent"
  function keepFinal() {
    var changed = false;
    state.done.forEach(function (d) {
      var n = state.notices.filter(function (x) { return x.id === d.id; })[0];
      if (n && !d.final) { d.final = { status: n.status, reason: n.reason }; changed = true; }
    });
    return changed ? FieldDB.set("done", state.done) : null;
  }

  function renderDone() {
    var ul = $("done-today");
    ul.textContent = "";
    var list = state.done.filter(function (d) { return mine(d) && sameDay(d.at); });
    list.forEach(function (d) {
      var st = doneState(d);
      var li = el("li", "done-item " + st.cls);
      li.appendChild(el("strong", "", d.label));
      if (d.address) li.appendChild(el("span", "addr", d.address));
      li.appendChild(el("span", "info", when(d.at) + " · " + (T[d.resolution] || d.resolution || "")));
      li.appendChild(el("span", "state", st.text));
      ul.appendChild(li);
    });
    $("done-view").hidden = !list.length;
  }

  function rememberDone(rec, job) {
    return FieldDB.get("done").then(function (list) {
      var keep = (list || []).filter(function (d) { return sameDay(d.at); }); // yesterday's list is let go
      keep.push({ id: rec.id, job: job.id, user_id: rec.user_id, label: rec.label, address: job.address || "",
        resolution: rec.resolution, at: rec.client_time });
      return FieldDB.set("done", keep);
    });
  }

  function render(auth, last) {
    renderBar(auth, last);
    renderNotices();
    renderDone();
    var m = /^#job-(\d+)$/.exec(location.hash);
    var job = m && state.jobs.filter(function (j) { return j.id === Number(m[1]); })[0];
    $("list-view").hidden = !!job;
    $("job-view").hidden = !job;
    if (job) renderJob(view(job));
    else renderList(sortedJobs());
  }

  function load() {
    return Promise.all([FieldDB.get("user"), FieldDB.jobs(), FieldDB.all(), FieldDB.notices(), FieldDB.get("lastSync"), FieldDB.get("auth"), FieldDB.get("done")])
      .then(function (v) {
        state.user = v[0] || null;
        state.jobs = v[1];
        state.outbox = v[2];
        state.notices = v[3];
        state.done = v[6] || [];
        keepFinal();
        render(v[5], v[4]);
        document.body.dataset.ready = "1";
      });
  }

  function schedule() {
    clearTimeout(state.timer);
    var pending = state.outbox.filter(mine).length;
    // backoff after failures (5 s, 10 s, ... 5 min); otherwise a minute with work waiting, five without
    var delay = state.failures ? Math.min(5000 * Math.pow(2, state.failures - 1), MAX_BACKOFF) : pending ? 60000 : MAX_BACKOFF;
    if (state.retryAfter) delay = Math.max(delay, state.retryAfter * 1000 + 1000); // a busy server's Retry-After
    state.timer = setTimeout(syncNow, delay);
  }

  function syncNow() {
    if (state.syncing) return Promise.resolve();
    state.syncing = true;
    $("sync-now").textContent = T.syncing;
    return FieldSync.run().then(function (r) {
      state.syncing = false;
      state.failures = r.ok ? 0 : r.error === "login" ? state.failures : state.failures + 1;
      state.retryAfter = r.retryAfter || 0;
      var err = $("sync-error");
      err.hidden = r.ok || r.error === "offline" || r.error === "login";
      err.textContent = T.error;
      document.body.dataset.sync = r.ok ? "ok" : r.error;
      return load().then(function () {
        if (r.ok) warmPhotos();
        schedule();
      });
    });
  }

  // the residents' photos, fetched once while online: the service worker keeps them for the day offline
  function warmPhotos() {
    if (!navigator.serviceWorker || !navigator.serviceWorker.controller) return;
    state.jobs.forEach(function (j) {
      (j.photos || []).forEach(function (p) { fetch(p.thumb, { credentials: "same-origin" }).catch(function () { /* later */ }); });
    });
  }

  function askSync() {
    if ("serviceWorker" in navigator) {
      navigator.serviceWorker.ready.then(function (reg) {
        if (reg.sync) return reg.sync.register("field-sync");
        return null;
      }).catch(function () { /* no Background Sync: the online event and the timer still run */ });
    }
    if (navigator.onLine) syncNow();
  }

  function queue(kind, fields) {
    var m = /^#job-(\d+)$/.exec(location.hash);
    var job = m && state.jobs.filter(function (j) { return j.id === Number(m[1]); })[0];
    if (!job || !state.user) return Promise.resolve();
    var rec = Object.assign({
      id: uuid(), job: job.id, kind: kind, client_time: new Date().toISOString(), user_id: state.user.id,
      label: (job.public_id || "#" + job.id) + " " + job.service,
    }, fields);
    return FieldDB.add(rec)
      .then(function () { return kind === "complete" ? rememberDone(rec, job) : null; })
      .then(load).then(askSync);
  }

  // a phone photo (4 MB) shrunk to 2000 px before it is queued: it must go up over a weak signal.
  // Anything the browser cannot decode (HEIC on some phones) is kept as it is; the server handles it.
  function shrink(file) {
    if (!self.createImageBitmap || file.size < 800000) return Promise.resolve(file);
    return createImageBitmap(file, { imageOrientation: "from-image" }).then(function (bmp) {
      var scale = Math.min(1, 2000 / Math.max(bmp.width, bmp.height));
      var c = document.createElement("canvas");
      c.width = Math.round(bmp.width * scale);
      c.height = Math.round(bmp.height * scale);
      c.getContext("2d").drawImage(bmp, 0, 0, c.width, c.height);
      return new Promise(function (resolve) {
        c.toBlob(function (b) { resolve(b && b.size < file.size ? b : file); }, "image/jpeg", 0.85);
      });
    }).catch(function () { return file; });
  }

  function checked(form, name) {
    var c = form.querySelector("input[name=" + name + "]:checked");
    return c ? c.value : "";
  }

  $("act-start").addEventListener("click", function () { queue("start", {}); });
  $("form-note").addEventListener("submit", function (e) {
    e.preventDefault();
    var text = $("note-text").value.trim();
    if (!text) return;
    queue("note", { note: text, public: $("note-public").checked }).then(function () {
      $("note-text").value = "";
      $("note-public").checked = false;
    });
  });
  $("photo-input").addEventListener("change", function () {
    var files = Array.prototype.slice.call(this.files || []);
    var input = this;
    files.reduce(function (p, f) {
      return p.then(function () { return shrink(f); }).then(function (b) { return queue("photo", { blob: b, public: true }); });
    }, Promise.resolve()).then(function () { input.value = ""; });
  });
  $("form-complete").addEventListener("submit", function (e) {
    e.preventDefault();
    queue("complete", { resolution: checked(this, "resolution"), note: $("complete-note").value.trim(), public: true })
      .then(function () { $("complete-note").value = ""; });
  });
  $("form-unable").addEventListener("submit", function (e) {
    e.preventDefault();
    queue("unable", { reason: checked(this, "reason"), note: $("unable-note").value.trim() })
      .then(function () { $("unable-note").value = ""; });
  });
  $("back").addEventListener("click", function (e) { e.preventDefault(); location.hash = ""; });
  $("sync-now").addEventListener("click", function () { state.failures = 0; syncNow(); });
  $("logout").addEventListener("click", function () {
    fetch("/field/api/session", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) {
        if (!s) return null;
        var body = new URLSearchParams({ csrf_token: s.csrf });
        return fetch("/logout", { method: "POST", body: body, credentials: "same-origin" });
      })
      .catch(function () { return null; })
      .then(function () { location.href = "/login"; });
  });
  window.addEventListener("hashchange", function () { load().then(function () { window.scrollTo(0, 0); }); });
  window.addEventListener("online", function () { state.failures = 0; syncNow(); });
  window.addEventListener("offline", load);

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/field/sw.js", { scope: "/field/" }).catch(function () { /* still works online */ });
    navigator.serviceWorker.addEventListener("controllerchange", warmPhotos); // first visit: once the worker is in charge
    navigator.serviceWorker.addEventListener("message", function (e) {
      if (e.data && e.data.type === "field-synced") load();
      if (e.data && e.data.type === "push" && navigator.onLine) syncNow(); // e.g. a job was assigned: fetch it
    });
  }
  if ("geolocation" in navigator && navigator.permissions) {
    navigator.permissions.query({ name: "geolocation" }).then(function (p) {
      if (p.state === "denied") return;
      navigator.geolocation.getCurrentPosition(function (pos) {
        state.pos = { lat: pos.coords.latitude, long: pos.coords.longitude };
        load();
      }, function () { /* no position: priority order only */ }, { maximumAge: 60000, timeout: 15000 });
    }).catch(function () { /* ignore */ });
  }

  load().then(function () { return navigator.onLine ? syncNow() : schedule(); });
})();
