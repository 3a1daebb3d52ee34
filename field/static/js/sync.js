/* Replays the outbox, first in first out, and stops at the first network error (order is kept).
   Used by the page (online event, timer with backoff, "sync now") and by the service worker (Background Sync).
   Only the logged-in user's events are sent: another crew member's events on this phone wait for them. */
"use strict";
var FieldSync = (function () {
  var BATCH = 100;

  function Failure(kind, detail) { this.kind = kind; this.detail = detail; }

  function call(url, opts) {
    opts = Object.assign({ credentials: "same-origin", cache: "no-store" }, opts || {});
    opts.headers = Object.assign({ Accept: "application/json" }, opts.headers || {});
    return fetch(url, opts).then(
      function (r) {
        if (r.status === 401) throw new Failure("login");
        if (!r.ok) throw new Failure("server", r.status);
        return r.json();
      },
      function (e) { throw new Failure("offline", String(e)); }
    );
  }

  function wire(rec) {
    return {
      id: rec.id, job: rec.job, kind: rec.kind, client_time: rec.client_time, user_id: rec.user_id,
      note: rec.note || "", public: !!rec.public, resolution: rec.resolution || "", reason: rec.reason || "",
    };
  }

  // the server's answer per event: anything answered leaves the outbox; refusals and conflicts become notices
  function settle(recs, results) {
    var byId = {};
    (results || []).forEach(function (r) { byId[r.id] = r; });
    var done = [];
    var notes = [];
    recs.forEach(function (rec) {
      var r = byId[rec.id];
      if (!r) return; // no answer: stays queued
      if (r.status === "applied" || r.status === "duplicate") done.push(rec.seq);
      else notes.push(FieldDB.notice(rec, r.status, r.reason));
    });
    if (!done.length && !notes.length) return Promise.reject(new Failure("server", "no answer"));
    return Promise.all(notes).then(function () { return done.length ? FieldDB.remove(done) : null; });
  }

  function storeJobs(res, pendingJobs) {
    var keep = [];
    var drop = [];
    (res.jobs || []).forEach(function (j) {
      if ((j.assigned && j.status !== "closed") || pendingJobs[j.id]) keep.push(j);
      else drop.push(j.id);
    });
    (res.removed || []).forEach(function (id) { if (!pendingJobs[id]) drop.push(id); });
    return FieldDB.putJobs(keep, drop, !!res.full).then(function () {
      return Promise.all([FieldDB.set("cursor", res.cursor), FieldDB.set("lastSync", new Date().toISOString())]);
    });
  }

  function pendingByJob(all) {
    var p = {};
    all.forEach(function (e) { p[e.job] = true; });
    return p;
  }

  function runLocked() {
    var sent = 0;
    var who;
    var cursor;
    return call("/field/api/session")
      .then(function (s) {
        who = s;
        return Promise.all([FieldDB.get("user"), FieldDB.get("cursor")]);
      })
      .then(function (v) {
        var before = v[0];
        cursor = v[1] || null;
        var changed = !before || before.id !== who.user_id;
        if (changed) cursor = null; // another crew member: their own jobs, from scratch
        return Promise.all([
          FieldDB.set("user", { id: who.user_id, name: who.name, crew_id: who.crew_id }),
          FieldDB.set("auth", "ok"),
          changed ? FieldDB.putJobs([], [], true) : null,
        ]);
      })
      .then(function step() {
        return FieldDB.all().then(function (all) {
          var mine = all.filter(function (e) { return e.user_id === who.user_id; });
          if (!mine.length) {
            if (sent) return null;
            return call("/field/api/jobs" + (cursor ? "?cursor=" + encodeURIComponent(cursor) : "")).then(function (res) {
              return storeJobs(res, pendingByJob(all));
            });
          }
          var head = mine[0];
          var req;
          var recs;
          if (head.kind === "photo") {
            recs = [head];
            var fd = new FormData();
            fd.append("event", JSON.stringify(wire(head)));
            fd.append("photo", head.blob, "photo.jpg");
            req = call("/field/api/photos/" + encodeURIComponent(head.id), {
              method: "POST", headers: { "X-CSRF-Token": who.csrf }, body: fd,
            }).then(function (res) { return { results: [res.result] }; });
          } else {
            recs = [];
            for (var i = 0; i < mine.length && recs.length < BATCH && mine[i].kind !== "photo"; i++) recs.push(mine[i]);
            req = call("/field/api/sync", {
              method: "POST",
              headers: { "Content-Type": "application/json", "X-CSRF-Token": who.csrf },
              body: JSON.stringify({ cursor: cursor, events: recs.map(wire) }),
            });
          }
          return req.then(function (res) {
            sent += recs.length;
            return settle(recs, res.results).then(function () {
              if (!res.jobs) return null;
              return FieldDB.all().then(function (left) {
                cursor = res.cursor;
                return storeJobs(res, pendingByJob(left));
              });
            });
          }).then(step);
        });
      })
      .then(
        function () { return { ok: true, sent: sent }; },
        function (e) {
          var kind = e instanceof Failure ? e.kind : "error";
          var p = kind === "login" ? FieldDB.set("auth", "login") : Promise.resolve();
          return p.then(function () { return { ok: false, sent: sent, error: kind, detail: e.detail || String(e) }; });
        }
      );
  }

  // one sync at a time per phone: the page and the service worker share a lock
  function run() {
    if (self.navigator && navigator.locks) {
      return navigator.locks.request("civic311-field-sync", runLocked);
    }
    return runLocked();
  }

  return { run: run };
})();
