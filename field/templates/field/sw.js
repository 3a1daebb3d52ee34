/* civic311 field crews' service worker, scope /field/. Rendered by server/pages/field.py with versioned URLs:
   any changed asset changes this file, so the browser installs the new version and the old cache is deleted. */
"use strict";
var VERSION = {{ version|tojson }};
var SHELL_CACHE = "field-shell-" + VERSION;
var MEDIA_CACHE = "field-media-v1"; // photo renditions are content-addressed: never stale
var SHELL = {{ shell|tojson }};

importScripts({{ push|tojson }}); // web push handlers
importScripts({{ imports[0]|tojson }}, {{ imports[1]|tojson }});

self.addEventListener("install", function (event) {
  event.waitUntil(
    caches.open(SHELL_CACHE).then(function (cache) {
      // redirect "error": a login page must never be cached as the app shell
      return cache.addAll(SHELL.map(function (u) { return new Request(u, { redirect: "error", credentials: "same-origin" }); }));
    }).then(function () { return self.skipWaiting(); })
  );
});

self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches.keys().then(function (keys) {
      return Promise.all(keys.map(function (k) {
        if (k.indexOf("field-") === 0 && k !== SHELL_CACHE && k !== MEDIA_CACHE) return caches.delete(k);
        return null;
      }));
    }).then(function () { return self.clients.claim(); })
  );
});

self.addEventListener("fetch", function (event) {
  var req = event.request;
  var url = new URL(req.url);
  if (req.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname.indexOf("/field/api/") === 0) return; // the API: always the network
  if (req.mode === "navigate" && url.pathname.indexOf("/field/") === 0) {
    // The shell opens from the cache, with no network and no login; field.js asks the API for the rest. When
    // the network answers, the cached shell is replaced (so a change of language sticks), but only by one of
    // this version: a shell naming assets this cache lacks would not open offline.
    var fresh = fetch(req).then(function (res) {
      if (res.ok && !res.redirected && res.headers.get("X-Shell-Version") === VERSION) {
        var copy = res.clone();
        return caches.open(SHELL_CACHE).then(function (c) { return c.put("/field/", copy); }).then(function () { return res; });
      }
      return res;
    });
    var cached = caches.match("/field/", { cacheName: SHELL_CACHE });
    if (url.searchParams.has("lang")) { // the crew asked for another language: the network first
      event.respondWith(fresh.catch(function () { return cached.then(function (hit) { return hit || Response.error(); }); }));
    } else {
      event.respondWith(cached.then(function (hit) { return hit || fresh; }));
      event.waitUntil(fresh.catch(function () { return null; }));
    }
    return;
  }
  if (url.pathname.indexOf("/media/") === 0) {
    event.respondWith(caches.open(MEDIA_CACHE).then(function (cache) {
      return cache.match(req).then(function (hit) {
        return hit || fetch(req).then(function (res) {
          if (res.ok) cache.put(req, res.clone());
          return res;
        });
      });
    }));
    return;
  }
  if (url.pathname.indexOf("/field/") === 0) {
    event.respondWith(caches.match(req, { cacheName: SHELL_CACHE }).then(function (hit) { return hit || fetch(req); }));
  }
});

function tellPages(result) {
  return self.clients.matchAll({ type: "window" }).then(function (list) {
    list.forEach(function (c) { c.postMessage({ type: "field-synced", result: result }); });
  });
}

// Background Sync: the browser wakes us when the network is back, even with the app closed
self.addEventListener("sync", function (event) {
  if (event.tag !== "field-sync") return;
  event.waitUntil(FieldSync.run().then(function (result) {
    return tellPages(result).then(function () {
      if (!result.ok && result.error !== "login") throw new Error("retry later: " + result.error);
    });
  }));
});

self.addEventListener("message", function (event) {
  if (event.data && event.data.type === "field-sync") {
    event.waitUntil(FieldSync.run().then(tellPages));
  }
});
