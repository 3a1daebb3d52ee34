// Web Push controls (no inline scripts). Enhances, on any page that loads this file:
//   .push-hook[data-request][data-follower-token]  "notify me on this device" for a followed request
//   [data-push-staff]                               staff: this device gets my jobs / alerts
//   (optional data-sw="/field/sw.js" data-sw-scope="/field/": the worker to register if the page has none)
//   [data-push-manage]                              the list of this browser's subscriptions, with remove
//   input[data-push-overdue]                        a dispatcher's overdue alerts opt-in
// The subscription's token (residents have no account) is kept in localStorage under "c311.push".
(function () {
  "use strict";
  var KEY = "c311.push";
  var config = null;

  function csrf() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.content : "";
  }
  function saved() {
    try { return JSON.parse(localStorage.getItem(KEY) || "null"); } catch (e) { return null; }
  }
  function remember(sub) {
    if (sub && sub.token) localStorage.setItem(KEY, JSON.stringify({ id: sub.id, token: sub.token }));
  }
  function api(method, url, body) {
    var headers = { Accept: "application/json", "X-CSRF-Token": csrf() };
    var mine = saved();
    if (mine) headers["X-Push-Token"] = mine.token;
    if (body) headers["Content-Type"] = "application/json";
    return fetch(url, { method: method, headers: headers, credentials: "same-origin",
                        body: body ? JSON.stringify(body) : undefined })
      .then(function (r) {
        if (r.status === 204) return null;
        return r.json().then(function (j) { if (!r.ok) throw j; return j; });
      });
  }
  function getConfig() { return config || (config = api("GET", "/api/push/key")); }
  function supported() {
    return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
  }
  function keyBytes(b64) {
    var s = atob((b64 + "===".slice((b64.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/"));
    var out = new Uint8Array(s.length);
    for (var i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out;
  }
  async function registration(el) {
    // the page's own worker (resident /sw.js or field /field/sw.js) imports the push handlers
    var reg = await navigator.serviceWorker.getRegistration();
    if (!reg) await navigator.serviceWorker.register(el.dataset.sw || "/sw.js", { scope: el.dataset.swScope || "/" });
    return navigator.serviceWorker.ready;
  }
  async function currentEndpoint() {
    if (!supported()) return null;
    var reg = await navigator.serviceWorker.getRegistration();
    var sub = reg && (await reg.pushManager.getSubscription());
    return sub ? sub.endpoint : null;
  }
  async function subscribe(extra, el) {
    var cfg = await getConfig();
    var perm = await Notification.requestPermission();
    if (perm !== "granted") throw { message: cfg.labels.denied };
    var reg = await registration(el || document.body);
    var sub = (await reg.pushManager.getSubscription()) ||
      (await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(cfg.publicKey) }));
    var out = await api("POST", "/api/push/subscriptions", Object.assign({ subscription: sub.toJSON() }, extra));
    remember(out);
    return out;
  }
  function mySubscriptions() { return api("GET", "/api/push/subscriptions").then(function (j) { return j.subscriptions; }); }

  function control(el) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "push-toggle";
    var status = document.createElement("p");
    status.setAttribute("role", "status");
    status.className = "push-status";
    el.appendChild(button);
    el.appendChild(status);
    return { button: button, status: status };
  }
  function fail(ui, cfg) {
    return function (e) { ui.status.textContent = (e && e.message) || cfg.labels.error; ui.button.disabled = false; };
  }

  async function followHook(el, cfg) {
    var ui = control(el);
    var publicId = el.dataset.request;
    async function refresh() {
      var endpoint = await currentEndpoint();
      var subs = saved() ? await mySubscriptions() : [];
      var on = subs.some(function (s) {
        return s.endpoint === endpoint && s.following.some(function (f) { return f.public_id === publicId; });
      });
      el.dataset.pushState = on ? "on" : "off";
      ui.button.textContent = on ? cfg.labels.follow_off : cfg.labels.follow_on;
      ui.button.disabled = false;
      return subs;
    }
    ui.button.addEventListener("click", async function () {
      ui.button.disabled = true;
      try {
        if (el.dataset.pushState === "on") {
          var mine = saved();
          await api("DELETE", "/api/push/subscriptions/" + mine.id + "/follows/" + encodeURIComponent(publicId));
          ui.status.textContent = cfg.labels.off;
        } else {
          await subscribe({ public_id: publicId, follower_token: el.dataset.followerToken || "" }, el);
          ui.status.textContent = cfg.labels.on;
        }
        await refresh();
      } catch (e) { fail(ui, cfg)(e); }
    });
    await refresh();
  }

  async function staffHook(el, cfg) {
    var ui = control(el);
    async function refresh() {
      var endpoint = await currentEndpoint();
      var mine = (await mySubscriptions()).filter(function (s) { return s.staff && s.endpoint === endpoint; })[0];
      el.dataset.pushState = mine ? "on" : "off";
      el.dataset.subscription = mine ? mine.id : "";
      ui.button.textContent = mine ? cfg.labels.staff_off : cfg.labels.staff_on;
      ui.button.disabled = false;
    }
    ui.button.addEventListener("click", async function () {
      ui.button.disabled = true;
      try {
        if (el.dataset.pushState === "on") {
          await api("DELETE", "/api/push/subscriptions/" + el.dataset.subscription + "?staff_only=1");
          ui.status.textContent = cfg.labels.off;
        } else {
          await subscribe({ staff: true }, el);
          ui.status.textContent = cfg.labels.on;
        }
        await refresh();
      } catch (e) { fail(ui, cfg)(e); }
    });
    await refresh();
  }

  async function manage(el, cfg) {
    var list = document.createElement("ul");
    list.className = "push-list";
    var status = document.createElement("p");
    status.setAttribute("role", "status");
    el.appendChild(list);
    el.appendChild(status);
    async function removeButton(label, url, after) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = "link";
      b.textContent = label;
      b.addEventListener("click", async function () {
        b.disabled = true;
        try { await api("DELETE", url); status.textContent = cfg.labels.removed; await after(); await render(); }
        catch (e) { status.textContent = (e && e.message) || cfg.labels.error; b.disabled = false; }
      });
      return b;
    }
    async function render() {
      var subs = await mySubscriptions();
      var endpoint = await currentEndpoint();
      list.textContent = "";
      if (!subs.length) {
        var none = document.createElement("li");
        none.textContent = cfg.labels.none;
        list.appendChild(none);
      }
      for (var i = 0; i < subs.length; i++) {
        var s = subs[i];
        var li = document.createElement("li");
        li.dataset.subscription = s.id;
        var title = document.createElement("strong");
        title.textContent = (s.endpoint === endpoint ? cfg.labels.this_device : cfg.labels.other_device) +
          " · " + new URL(s.endpoint).host;
        li.appendChild(title);
        li.appendChild(document.createTextNode(" "));
        li.appendChild(await removeButton(cfg.labels.remove, "/api/push/subscriptions/" + s.id, async function () {
          var reg = await navigator.serviceWorker.getRegistration();
          var sub = reg && (await reg.pushManager.getSubscription());
          if (sub && sub.endpoint === endpoint) await sub.unsubscribe();
        }));
        if (s.following.length) {
          var ul = document.createElement("ul");
          for (var j = 0; j < s.following.length; j++) {
            var f = s.following[j];
            var item = document.createElement("li");
            var a = document.createElement("a");
            a.href = f.url;
            a.textContent = f.public_id;
            item.appendChild(a);
            item.appendChild(document.createTextNode(" "));
            item.appendChild(await removeButton(cfg.labels.stop_following,
              "/api/push/subscriptions/" + s.id + "/follows/" + encodeURIComponent(f.public_id),
              async function () {}));
            ul.appendChild(item);
          }
          li.appendChild(ul);
        }
        list.appendChild(li);
      }
      el.dataset.ready = "1";
    }
    await render();
  }

  function overdue(input, cfg) {
    input.addEventListener("change", function () {
      api("PUT", "/api/push/overdue-alerts", { enabled: input.checked })
        .then(function (j) { input.checked = j.enabled; })
        .catch(function () { input.checked = !input.checked; });
    });
  }

  var SELECTOR = ".push-hook[data-request], [data-push-staff], [data-push-manage], input[data-push-overdue]";
  async function scan(root) {
    var found = Array.prototype.slice.call(root.querySelectorAll ? root.querySelectorAll(SELECTOR) : []);
    if (root.matches && root.matches(SELECTOR)) found.unshift(root);
    found = found.filter(function (el) { return !el.dataset.pushInit; });
    if (!found.length) return;
    found.forEach(function (el) { el.dataset.pushInit = "1"; });
    var cfg = await getConfig();
    found.forEach(function (el) {
      if (el.matches("input[data-push-overdue]")) return overdue(el, cfg);
      if (el.matches("[data-push-manage]")) return manage(el, cfg);
      if (!supported()) {
        var p = document.createElement("p");
        p.textContent = cfg.labels.unsupported;
        return el.appendChild(p);
      }
      if (el.matches("[data-push-staff]")) return staffHook(el, cfg);
      return followHook(el, cfg);
    });
  }
  function start() {
    scan(document);
    // the follow form is swapped in by htmx: enhance what it brings
    document.body.addEventListener("htmx:load", function (e) { scan(e.detail.elt); });
  }

  window.C311Push = { subscribe: subscribe, mySubscriptions: mySubscriptions, saved: saved };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
