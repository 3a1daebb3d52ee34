// The resident app in the browser: service worker, report form (photos shrunk before upload, location,
// duplicates), the offline queue's status, and the lazy map. No framework; htmx does the partial swaps.
(() => {
  "use strict";
  const me = document.getElementById("report-js");
  const D = me ? me.dataset : {};
  const $ = (id) => document.getElementById(id);
  const fill = (tpl, vals) => (tpl || "").replace(/\{(\w+)\}/g, (_, k) => (k in vals ? vals[k] : ""));
  const MAX_SIDE = 2048, MAX_PHOTOS = 5;
  let photos = []; // {blob, name, url}
  let gpsFromPhoto = null;

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => {});
  }

  // ---- the offline queue's status -------------------------------------------------------------
  const say = (html) => { const q = $("queue-status"); if (q) q.innerHTML = html; };
  const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
  async function showQueue(extra) {
    if (!self.C311Queue) return;
    const items = await C311Queue.all();
    const waiting = items.filter((i) => !i.error).length;
    const parts = extra ? [extra] : [];
    if (waiting) parts.push(esc(fill(D.msgWaiting, { n: waiting })));
    const wait = (await C311Queue.nextRetry()) - Date.now();
    if (waiting && wait > 0) parts.push(esc(fill(D.msgLater, { minutes: Math.ceil(wait / 60000) })));
    for (const i of items.filter((i) => i.error)) parts.push(esc(fill(D.msgRefused, { message: i.error })));
    say(parts.map((p) => "<p>" + p + "</p>").join(""));
  }
  async function flush() {
    if (!self.C311Queue) return;
    try { await C311Queue.flush(); } catch (e) { /* try later */ }
    showQueue();
    retryLater();
  }
  // the server asked to wait (429, 503): send again when it said, while the page is open
  let retryTimer = 0;
  async function retryLater() {
    const at = await C311Queue.nextRetry();
    clearTimeout(retryTimer);
    if (at > Date.now()) retryTimer = setTimeout(flush, at - Date.now() + 250);
  }
  try {
    new BroadcastChannel("c311-queue").onmessage = (e) => {
      if (e.data && e.data.type === "sent") {
        const r = e.data.result;
        const link = '<a href="' + esc(r.private_url) + '">' + esc(r.public_id) + "</a>";
        showQueue(fill(esc(D.msgSent), { id: link }));
      } else {
        showQueue();
        if (e.data && e.data.type === "later") retryLater();
      }
    };
  } catch (e) { /* no BroadcastChannel */ }
  window.addEventListener("online", flush);
  flush();

  // ---- photos ------------------------------------------------------------------------------------
  async function exifGps(file) {
    try {
      const v = new DataView(await file.slice(0, 262144).arrayBuffer());
      if (v.byteLength < 4 || v.getUint16(0) !== 0xffd8) return null;
      let o = 2;
      while (o + 10 < v.byteLength) {
        const marker = v.getUint16(o), len = v.getUint16(o + 2);
        if (marker === 0xffe1 && v.getUint32(o + 4) === 0x45786966) return tiffGps(v, o + 10);
        if ((marker & 0xff00) !== 0xff00 || marker === 0xffda) return null;
        o += 2 + len;
      }
    } catch (e) { /* not a JPEG we can read */ }
    return null;
  }
  function tiffGps(v, t) {
    const le = v.getUint16(t) === 0x4949;
    const u16 = (p) => v.getUint16(t + p, le), u32 = (p) => v.getUint32(t + p, le);
    const entries = (p) => {
      const out = {};
      for (let i = 0, n = u16(p); i < n; i++) out[u16(p + 2 + i * 12)] = p + 2 + i * 12;
      return out;
    };
    const ifd0 = entries(u32(4));
    if (!ifd0[0x8825]) return null;
    const g = entries(u32(ifd0[0x8825] + 8));
    if (!g[2] || !g[4]) return null;
    const dms = (e) => {
      const off = u32(e + 8), r = (k) => u32(off + k * 8) / u32(off + k * 8 + 4);
      return r(0) + r(1) / 60 + r(2) / 3600;
    };
    const ref = (e) => (e ? String.fromCharCode(v.getUint8(t + e + 8)) : "");
    let lat = dms(g[2]), lon = dms(g[4]);
    if (ref(g[1]) === "S") lat = -lat;
    if (ref(g[3]) === "W") lon = -lon;
    return isFinite(lat) && isFinite(lon) ? [lat, lon] : null;
  }
  async function shrink(file) {
    let bmp;
    try { bmp = await createImageBitmap(file); } catch (e) { return file; } // e.g. HEIC: the server decodes it
    const s = Math.min(1, MAX_SIDE / Math.max(bmp.width, bmp.height));
    if (s === 1 && /^image\/(jpeg|png|webp)$/.test(file.type) && file.size < 1500000) { bmp.close(); return file; }
    const c = document.createElement("canvas");
    c.width = Math.round(bmp.width * s); c.height = Math.round(bmp.height * s);
    c.getContext("2d").drawImage(bmp, 0, 0, c.width, c.height);
    bmp.close();
    return new Promise((res) => c.toBlob((b) => res(b || file), "image/jpeg", 0.85));
  }
  function drawPhotos() {
    const ul = $("photo-list");
    if (!ul) return;
    ul.innerHTML = "";
    photos.forEach((p, i) => {
      const li = document.createElement("li");
      const img = document.createElement("img");
      img.src = p.url; img.alt = fill(D.msgPhotoN, { n: i + 1 }); img.width = 96; img.height = 96;
      const b = document.createElement("button");
      b.type = "button"; b.className = "remove"; b.textContent = D.msgRemove;
      b.setAttribute("aria-label", fill(D.msgRemovePhoto, { n: i + 1 }));
      b.addEventListener("click", () => {
        URL.revokeObjectURL(p.url); photos.splice(i, 1); drawPhotos();
        const next = ul.querySelector("button.remove") || $("photos");
        next.focus(); // the removed button is gone: keep the keyboard in the photo list
      });
      li.append(img, b);
      ul.append(li);
    });
    // the picker is emptied after each choice (the shrunk copies are sent): say what was chosen instead
    $("photos-count").textContent = photos.length ? fill(D.msgPhotoCount, { n: photos.length, max: MAX_PHOTOS }) : "";
    $("photos-label").textContent = photos.length ? D.msgAddMore : D.msgAddPhotos;
    $("photo-box").classList.toggle("full", photos.length >= MAX_PHOTOS);
  }
  const box = $("photo-box");
  if (box) box.classList.add("enhanced");
  async function addPhotos(input) {
    const err = $("form-error");
    for (const f of Array.from(input.files || [])) {
      if (photos.length >= MAX_PHOTOS) { if (err) err.textContent = fill(D.msgTooMany, { n: MAX_PHOTOS }); break; }
      if (!gpsFromPhoto && !hasLocation()) {
        const gps = await exifGps(f);
        if (gps) offerGps(gps);
      }
      const blob = await shrink(f);
      const name = (f.name || "photo").replace(/\.[^.]*$/, "") + (blob === f ? f.name.replace(/^[^.]*/, "") : ".jpg");
      photos.push({ blob, name, url: URL.createObjectURL(blob) });
    }
    input.value = ""; // the shrunk copies are sent, not the originals
    drawPhotos();
  }
  function offerGps(gps) {
    gpsFromPhoto = gps;
    const box = $("gps-offer");
    if (!box) return;
    $("gps-text").textContent = fill(D.msgGps, { lat: gps[0].toFixed(5), long: gps[1].toFixed(5) });
    box.hidden = false;
  }

  // ---- location and "already reported?" ---------------------------------------------------------
  const hasLocation = () => $("lat") && $("lat").value !== "";
  function setLocation(lat, long, fromMap) {
    $("lat").value = lat.toFixed(6);
    $("long").value = long.toFixed(6);
    // the coordinates at once, in second place; the nearest known address replaces "Location set" when the
    // server answers (the "already reported?" answer carries it: #location-place, swapped out of band)
    const place = document.createElement("strong"), coords = document.createElement("span");
    place.id = "location-place"; place.textContent = D.msgLocation;
    coords.className = "coords"; coords.textContent = " (" + lat.toFixed(5) + ", " + long.toFixed(5) + ")";
    $("location-msg").replaceChildren(place, coords);
    if (!fromMap && window.C311Map) C311Map.setPin(lat, long);
    checkNearby();
  }
  function checkNearby() {
    const form = $("report");
    if (!form || !window.htmx) return;
    const code = form.querySelector("[name=service_code]");
    if (!code) return;
    const values = { service: code.value };
    if (hasLocation()) { values.lat = $("lat").value; values.long = $("long").value; }
    else if ($("address").value.trim()) values.address = $("address").value.trim();
    else return;
    htmx.ajax("GET", "/report/nearby", { target: "#nearby", values }).catch(() => {});
  }
  function loadScript(src) {
    return new Promise((res, rej) => {
      const s = document.createElement("script");
      s.src = src; s.onload = res; s.onerror = rej;
      document.head.append(s);
    });
  }
  async function openMap(el, onPick, points) {
    if (!window.C311Map) await loadScript(D.mapJs);
    el.hidden = false;
    await C311Map.open(el, { ...D, onPick, points });
  }

  // ---- sending ----------------------------------------------------------------------------------
  function newKey() {
    return (crypto.randomUUID ? crypto.randomUUID() : Date.now() + "-" + Math.random().toString(16).slice(2));
  }
  function prepare(form) {
    const k = form.querySelector("[name=idempotency_key]");
    if (k && !k.value) k.value = newKey();
    const via = document.createElement("input");
    Object.assign(via, { type: "hidden", name: "via", value: "app" });
    if (!form.querySelector("[name=via]")) form.append(via);
  }
  async function submit(form) {
    const err = $("form-error"), btn = form.querySelector("[type=submit]");
    err.textContent = "";
    const fd = new FormData(form);
    fd.delete("photos");
    const fields = [];
    for (const [k, v] of fd.entries()) if (typeof v === "string") fields.push([k, v]);
    const item = { key: fd.get("idempotency_key"), fields, photos: photos.map((p) => ({ blob: p.blob, name: p.name })) };
    btn.disabled = true;
    const label = btn.textContent;
    btn.textContent = D.msgSending;
    const body = new FormData();
    for (const [k, v] of fields) body.append(k, v);
    item.photos.forEach((p) => body.append("photos", p.blob, p.name));
    let res = null;
    if (navigator.onLine !== false) {
      try {
        res = await fetch("/report", { method: "POST", body, headers: { Accept: "application/json" } });
      } catch (e) { res = null; }
    }
    // no network, or the server said "not now" (429: too many reports; 5xx: busy or in trouble): keep it, with
    // its photos, and send it later exactly once
    if (res === null || C311Queue.later(res) || res.status >= 500) {
      if (res && C311Queue.later(res)) item.retryAt = Date.now() + C311Queue.retryAfterMs(res);
      await C311Queue.add(item);
      try { const reg = await navigator.serviceWorker.ready; await reg.sync.register("c311-reports"); } catch (e) { /* no Background Sync */ }
      reset(form);
      btn.disabled = false; btn.textContent = label;
      await showQueue(res === null ? esc(D.msgQueued) : "");
      retryLater();
      $("queue-status").scrollIntoView({ block: "center" });
      return;
    }
    if (res.ok) {
      const data = await res.json();
      location.assign(data.private_url + "&new=1");
      return;
    }
    btn.disabled = false; btn.textContent = label;
    let message = D.msgError;
    try { message = (await res.json()).message || message; } catch (e) { /* not JSON */ }
    err.textContent = message;
    err.focus();
  }
  function reset(form) {
    form.reset();
    photos.forEach((p) => URL.revokeObjectURL(p.url));
    photos = []; gpsFromPhoto = null;
    drawPhotos();
    form.querySelector("[name=idempotency_key]").value = newKey();
    $("lat").value = ""; $("long").value = "";
    $("location-msg").textContent = "";
    $("nearby").innerHTML = "";
  }

  // ---- the private link: copy and share ----------------------------------------------------------
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    return new Promise((res, rej) => { // older browsers, plain http: a selected textarea and execCommand
      const t = document.createElement("textarea");
      t.value = text; t.setAttribute("readonly", ""); t.style.position = "fixed"; t.style.opacity = "0";
      document.body.append(t);
      t.select();
      let ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      t.remove();
      ok ? res() : rej(new Error("copy"));
    });
  }
  function copyLink(btn) {
    const link = document.querySelector(btn.dataset.copy), msg = $("copy-status");
    copyText(link.href).then(
      () => { msg.className = "ok"; msg.textContent = D.msgCopied; },
      () => { msg.className = ""; msg.textContent = fill(D.msgCopyFailed, { url: link.href }); });
  }
  const share = $("share-link");
  if (share && navigator.share) share.hidden = false; // the Web Share API: phones, some desktops

  // ---- wiring (delegated: the form arrives by htmx) ---------------------------------------------
  document.addEventListener("submit", (e) => {
    if (e.target.id !== "report" || !self.FormData || !self.C311Queue) return;
    e.preventDefault();
    prepare(e.target);
    submit(e.target);
  });
  document.addEventListener("change", (e) => {
    if (e.target.id === "photos") addPhotos(e.target);
    if (e.target.id === "address" && !hasLocation()) checkNearby();
  });
  document.addEventListener("click", (e) => {
    const t = e.target.closest("button");
    if (!t) return;
    if (t.id === "copy-link") copyLink(t);
    else if (t.id === "share-link") {
      const link = document.querySelector(t.dataset.share);
      navigator.share({ title: t.dataset.shareTitle, url: link.href }).catch(() => {}); // cancelled: nothing to do
    } else if (t.id === "use-location") {
      if (!navigator.geolocation) { $("location-msg").textContent = D.msgNoGeo; return; }
      navigator.geolocation.getCurrentPosition(
        (p) => setLocation(p.coords.latitude, p.coords.longitude),
        () => { $("location-msg").textContent = D.msgNoGeo; },
        { enableHighAccuracy: true, timeout: 10000 });
    } else if (t.id === "use-gps" && gpsFromPhoto) {
      setLocation(gpsFromPhoto[0], gpsFromPhoto[1]);
      $("gps-offer").hidden = true;
    } else if (t.id === "open-map") {
      t.setAttribute("aria-expanded", "true");
      openMap($("map"), (lat, long) => setLocation(lat, long, true));
    } else if (t.id === "show-map") {
      t.setAttribute("aria-expanded", "true");
      const points = Array.from(document.querySelectorAll("#results [data-lat]")).map((li) => li.dataset);
      openMap($("list-map"), null, points);
    } else if (t.id === "near-me" && navigator.geolocation) {
      navigator.geolocation.getCurrentPosition((p) => {
        $("near-lat").value = p.coords.latitude.toFixed(6);
        $("near-long").value = p.coords.longitude.toFixed(6);
        $("filters").requestSubmit();
      }, () => {});
    }
  });
  document.addEventListener("htmx:afterSwap", (e) => {
    if (e.detail.target.id === "questions") {
      $("report").hidden = false;
      $("choose").hidden = true; // one step at a time on a small screen
      if (hasLocation() || $("address").value.trim()) checkNearby(); // another service: other duplicates
      const h = $("service-title");
      if (h) h.focus();
    }
    if (e.detail.target.id === "results" && window.C311Map && !$("list-map").hidden) {
      C311Map.points(Array.from(document.querySelectorAll("#results [data-lat]")).map((li) => li.dataset));
    }
  });
})();
