/* The crew's phone storage (IndexedDB), shared by the page and the service worker (importScripts).
   outbox:  one record per event, FIFO by its auto-increment key `seq`; removed only after the server answered.
   notices: events the server refused or recorded as a conflict, kept to be shown (never silently dropped).
   jobs:    the crew's jobs as the server last sent them.   meta: user, cursor, last sync time. */
"use strict";
var FieldDB = (function () {
  var NAME = "civic311-field";
  var dbp = null;

  function open() {
    if (!dbp) {
      dbp = new Promise(function (resolve, reject) {
        var r = indexedDB.open(NAME, 1);
        r.onupgradeneeded = function () {
          var db = r.result;
          db.createObjectStore("outbox", { keyPath: "seq", autoIncrement: true });
          db.createObjectStore("notices", { keyPath: "seq" });
          db.createObjectStore("jobs", { keyPath: "id" });
          db.createObjectStore("meta");
        };
        r.onsuccess = function () {
          var db = r.result;
          db.onversionchange = function () { db.close(); dbp = null; };
          resolve(db);
        };
        r.onerror = function () { dbp = null; reject(r.error); };
      });
    }
    return dbp;
  }

  // one transaction; fn(tx) returns an IDBRequest (its result is resolved) or a plain value
  function tx(stores, mode, fn) {
    return open().then(function (db) {
      return new Promise(function (resolve, reject) {
        // "strict": the write reaches the disk before we say it is saved (a phone may die right after)
        var t = db.transaction(stores, mode, { durability: mode === "readwrite" ? "strict" : "default" });
        var out = fn(t);
        t.oncomplete = function () { resolve(out instanceof IDBRequest ? out.result : out); };
        t.onerror = t.onabort = function () { reject(t.error); };
      });
    });
  }

  return {
    add: function (ev) { return tx(["outbox"], "readwrite", function (t) { return t.objectStore("outbox").add(ev); }); },
    all: function () { return tx(["outbox"], "readonly", function (t) { return t.objectStore("outbox").getAll(); }); },
    count: function () { return tx(["outbox"], "readonly", function (t) { return t.objectStore("outbox").count(); }); },
    remove: function (seqs) {
      return tx(["outbox"], "readwrite", function (t) { seqs.forEach(function (s) { t.objectStore("outbox").delete(s); }); });
    },
    // move an answered event out of the outbox into the notices, in one transaction
    notice: function (rec, status, reason) {
      return tx(["outbox", "notices"], "readwrite", function (t) {
        t.objectStore("outbox").delete(rec.seq);
        var n = Object.assign({}, rec, { status: status, reason: reason || "", at: new Date().toISOString() });
        if (status !== "refused") delete n.blob; // a conflict was recorded on the server: the photo is there
        t.objectStore("notices").put(n);
      });
    },
    notices: function () { return tx(["notices"], "readonly", function (t) { return t.objectStore("notices").getAll(); }); },
    dismiss: function (seq) { return tx(["notices"], "readwrite", function (t) { t.objectStore("notices").delete(seq); }); },
    jobs: function () { return tx(["jobs"], "readonly", function (t) { return t.objectStore("jobs").getAll(); }); },
    putJobs: function (list, removeIds, replace) {
      return tx(["jobs"], "readwrite", function (t) {
        var s = t.objectStore("jobs");
        if (replace) s.clear();
        (removeIds || []).forEach(function (id) { s.delete(id); });
        list.forEach(function (j) { s.put(j); });
      });
    },
    get: function (key) { return tx(["meta"], "readonly", function (t) { return t.objectStore("meta").get(key); }); },
    set: function (key, value) { return tx(["meta"], "readwrite", function (t) { t.objectStore("meta").put(value, key); }); },
  };
})();
