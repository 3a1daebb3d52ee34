// Offline reports: each one is its own IndexedDB record (keyed by its idempotency key) holding its fields
// and its photos as Blobs. Replay is first-in-first-out and stops at the first network error; the server
// answers a replayed key with the first request, so a report is created exactly once. A 429 (too many
// reports) or 503 (server busy) means "not now", never "no": the report stays queued and is sent after the
// server's Retry-After.
// Loaded by the page (<script>) and by the service worker (importScripts).
const C311Queue = (() => {
  const DB = "c311", STORE = "reports";
  const open = () => new Promise((res, rej) => {
    const r = indexedDB.open(DB, 1);
    r.onupgradeneeded = () => r.result.createObjectStore(STORE, { keyPath: "key" });
    r.onsuccess = () => res(r.result);
    r.onerror = () => rej(r.error);
  });
  const tx = async (mode, fn) => {
    const db = await open();
    return new Promise((res, rej) => {
      const t = db.transaction(STORE, mode);
      const req = fn(t.objectStore(STORE));
      t.oncomplete = () => { db.close(); res(req && req.result); };
      t.onerror = () => { db.close(); rej(t.error); };
    });
  };
  const all = async () => ((await tx("readonly", (s) => s.getAll())) || []).sort((a, b) => a.createdAt - b.createdAt);
  const put = (item) => tx("readwrite", (s) => s.put(item));
  const del = (key) => tx("readwrite", (s) => s.delete(key));

  const tell = async (msg) => {
    try { new BroadcastChannel("c311-queue").postMessage(msg); } catch (e) { /* old browsers */ }
  };

  async function sendOne(item) {
    const t = await fetch("/report/csrf", { credentials: "same-origin", cache: "no-store" });
    if (!t.ok) throw new Error("token " + t.status);
    const { csrf_token } = await t.json();
    const body = new FormData();
    for (const [k, v] of item.fields) body.append(k, v);
    (item.photos || []).forEach((p, i) => body.append("photos", p.blob, p.name || "photo" + i + ".jpg"));
    return fetch("/report", {
      method: "POST", body, credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf_token, Accept: "application/json" },
    });
  }

  // Retry-After is seconds or an HTTP date; without one, a minute
  function retryAfterMs(res) {
    const v = (res.headers && res.headers.get("Retry-After")) || "";
    const s = Number(v);
    if (v && Number.isFinite(s)) return Math.max(1, s) * 1000;
    const at = Date.parse(v);
    return Number.isFinite(at) ? Math.max(1000, at - Date.now()) : 60000;
  }
  const later = (res) => res.status === 429 || res.status === 503;
  const waiting = async () => (await all()).filter((i) => !i.error);

  async function flushNow() {
    let sent = 0;
    for (const item of await all()) {
      if (item.error) continue; // refused by the server: shown to the resident, not retried blindly
      if (item.retryAt && item.retryAt > Date.now()) break; // the server asked to wait: keep the order
      let res;
      try { res = await sendOne(item); } catch (e) { break; } // still offline: keep the order, try later
      if (res.ok) {
        const data = await res.json();
        await del(item.key);
        sent++;
        await tell({ type: "sent", key: item.key, result: data });
      } else if (later(res)) {
        item.retryAt = Date.now() + retryAfterMs(res);
        await put(item);
        await tell({ type: "later", key: item.key, retryAt: item.retryAt });
        break;
      } else if (res.status >= 400 && res.status < 500 && res.status !== 403 && res.status !== 429) {
        let message = "";
        try { message = (await res.json()).message; } catch (e) { /* not JSON */ }
        item.error = message || String(res.status);
        await put(item);
        await tell({ type: "refused", key: item.key, message: item.error });
      } else {
        break; // server trouble: try again later
      }
    }
    return sent;
  }

  // one flush at a time across the page and the worker
  const flush = () => (self.navigator && navigator.locks
    ? navigator.locks.request("c311-flush", flushNow) : flushNow());

  return {
    add: (item) => put({ ...item, createdAt: item.createdAt || Date.now() }),
    all, del, flush, later, retryAfterMs,
    count: async () => (await all()).length,
    waiting: async () => (await waiting()).length,
    // when the server said the next report may be sent (0: whenever the network allows)
    nextRetry: async () => Math.max(0, ...(await waiting()).map((i) => i.retryAt || 0)),
  };
})();
self.C311Queue = C311Queue;
