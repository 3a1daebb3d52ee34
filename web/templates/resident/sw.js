// civic311 resident app service worker (rendered by server/pages/resident.py; served with Cache-Control: no-cache).
// Cache names carry the version; activate deletes every older cache of ours.
const VERSION = {{ version|tojson }};
const SHELL_CACHE = "c311-shell-" + VERSION;
const RUNTIME_CACHE = "c311-runtime-" + VERSION;
const SHELL = {{ shell|tojson }};
const QUESTIONS = {{ questions|tojson }}; // htmx partials: fetched with the HX-Request header, like htmx does
const RESIDENT_PAGES = /^\/($|report$|requests($|\/)|offline$)/;

importScripts({{ queue_script|tojson }}, {{ push_script|tojson }}); // the offline queue, the web push handlers

self.addEventListener("install", (e) => {
  e.waitUntil((async () => {
    const c = await caches.open(SHELL_CACHE);
    await c.addAll(SHELL);
    // the questions are a nicety: a failure here must not stop the worker from installing
    await Promise.all(QUESTIONS.map((u) => fetch(u, { headers: { "HX-Request": "true" } })
      .then((r) => (r.ok ? c.put(u, r) : null)).catch(() => null)));
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (e) => {
  e.waitUntil((async () => {
    for (const k of await caches.keys()) {
      if (k.startsWith("c311-") && k !== SHELL_CACHE && k !== RUNTIME_CACHE) await caches.delete(k);
    }
    await self.clients.claim();
  })());
});

async function networkFirst(req, fallbackUrl) {
  try {
    const res = await fetch(req);
    if (res.ok && res.type === "basic") (await caches.open(RUNTIME_CACHE)).put(req, res.clone());
    return res;
  } catch (err) {
    const runtime = await caches.open(RUNTIME_CACHE);
    const hit = (await runtime.match(req)) || (await caches.match(req)) ||
      (req.mode === "navigate" ? await caches.match(req, { ignoreSearch: true }) : null);
    if (hit) return hit;
    if (fallbackUrl) return (await caches.match(fallbackUrl)) || Response.error();
    throw err;
  }
}

async function cacheFirst(req) {
  const hit = await caches.match(req);
  if (hit) return hit;
  const res = await fetch(req);
  if (res.ok && res.type === "basic") (await caches.open(RUNTIME_CACHE)).put(req, res.clone());
  return res;
}

self.addEventListener("fetch", (e) => {
  const req = e.request;
  const url = new URL(req.url);
  if (req.method !== "GET" || url.origin !== self.location.origin) return; // tiles, POSTs: network only
  if (url.pathname.startsWith("/static/") || url.pathname.startsWith("/media/")) {
    e.respondWith(cacheFirst(req)); // versioned or content-addressed: never changes
  } else if (req.mode === "navigate") {
    // only the public resident pages are kept; staff pages and private links never enter the cache
    if (!RESIDENT_PAGES.test(url.pathname)) return;
    e.respondWith(networkFirst(req, "/offline"));
  } else if (url.pathname.startsWith("/report/") && !url.pathname.startsWith("/report/csrf")) {
    e.respondWith(networkFirst(req, null)); // htmx partials seen before still work offline
  }
});

// Background Sync where the browser has it; the page also replays on start-up and on "online".
self.addEventListener("sync", (e) => {
  if (e.tag !== "c311-reports") return;
  // a report still waiting (the server said "not now") fails the sync, so that the browser tries it again later
  e.waitUntil(C311Queue.flush().then(async () => {
    if (await C311Queue.waiting()) throw new Error("reports still waiting");
  }));
});
