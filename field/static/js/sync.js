/* Replays the outbox, first in first out, and stops at the first network error (order is kept).
   Used by the page (online event, timer with backoff, "sync now") and by the service worker (Background Sync).
   Only the logged-in user's events are sent: another crew member's events on this phone wait for them. */
"use strict";
var FieldSync = (function () {
  var BATCH = 100;
  var MAX_WAIT = 3600; // seconds: a Retry-After longer than this is a mistake, not a plan

  function Failure(kind, detail, wait) { this.kind = kind; this.detail = detail; this.wait = wait || 0; }

  // Retry-After is seconds or an HTTP date
  function retryAfter(r) {
    var v = r.headers.get("Retry-After");
    if (!v) return 0;
    var s = /^\s*\d+\s*$/.test(v) ? Number(v) : (Date.parse(v) - Date.now()) / 1000;
    return isFinite(s) ? Math.min(Math.max(s, 0), MAX_WAIT) : 0;
  }

  // 401: log in again; 429 and 503: busy, try later (nothing is dropped); 400, 413 and 422: this request itself
  // is refused (split the batch, or refuse its one event); anything else: a server problem, try again later.
  function call(url, opts) {
    opts = Object.assign({ credentials: "same-origin", cache: "no-store" }, opts || {});
    opts.headers = Object.assign({ Accept: "application/json" }, opts.headers || {});
    return fetch(url, opts).then(
      function (r) {
        if (r.status === 401) throw new Failure("login");
        if (r.status === 429 || r.status === 503) throw new Failure("busy", r.status, retryAfter(r));
        if (r.status === 400 || r.status === 413 || r.status === 422) {
          return r.json().catch(function () { return {}; }).then(function (b) {
            throw new Failure("refused", (b && typeof b.error === "string" && b.error) || "http_" + r.status);
          });
        }
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

  function sameId(a, b) { return String(a || "").toLowerCase() === String(b || "").toLowerCase(); }

  // the server answers one result per event, in order; by id if that ever does not line up
  function answerFor(recs, results, i) {
    var r = results[i];
    if (results.length === recs.length && r && sameId(r.id, recs[i].id)) return r;
    return results.filter(function (x) { return x && sameId(x.id, recs[i].id); })[0];
  }

  // the server's answer per event: anything answered leaves the outbox; refusals and conflicts become notices
  function settle(recs, results) {
    results = Array.isArray(results) ? results : [];
    var done = [];
    var notes = [];
    recs.forEach(function (rec, i) {
      var r = answerFor(recs, results, i);
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
    var limit = BATCH; // halved when the server refuses a whole batch, so one bad event cannot hold the rest
    return FieldDB.get("retryAt")
      .then(function (at) {
        // a busy server asked us to wait (Retry-After): every caller (page, timer, Background Sync) honours it
        var wait = at ? (at - Date.now()) / 1000 : 0;
        if (wait > 0) throw new Failure("busy", "retry-after", wait);
        return call("/field/api/session");
      })
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
            for (var i = 0; i < mine.length && recs.length < limit && mine[i].kind !== "photo"; i++) recs.push(mine[i]);
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
          }, function (e) {
            if (!(e instanceof Failure) || e.kind !== "refused") throw e;
            // the request itself was refused: send half as many; a single event is refused alone (and shown)
            if (recs.length > 1) { limit = Math.max(1, Math.floor(recs.length / 2)); return null; }
            sent += 1;
            return FieldDB.notice(recs[0], "refused", e.detail);
          }).then(step);
        });
      })
      .then(
        function () { return { ok: true, sent: sent }; },
        function (e) {
          var kind = e instanceof Failure ? e.kind : "error";
          var wait = kind === "busy" ? e.wait : 0;
          var p = kind === "login" ? FieldDB.set("auth", "login") :
            wait && e.detail !== "retry-after" ? FieldDB.set("retryAt", Date.now() + wait * 1000) : Promise.resolve();
          return p.then(function () {
            return { ok: false, sent: sent, error: kind, detail: e.detail || String(e), retryAfter: wait };
          });
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
