// Web Push handlers for both service workers (resident /sw.js and field /field/sw.js import this file).
// The payload is JSON written by server/services/notify.py: {title, body, url, public_id, icon, tag,
// kind, unfollow_url, unfollow_label}. The notification opens data.url (or the "stop following" link),
// and every open page of ours is told with postMessage({type: "push", msg}).
(function () {
  "use strict";

  function parse(data) {
    if (!data) return { title: "311" };
    try { return data.json(); } catch (e) { return { title: "311", body: data.text() }; }
  }

  self.addEventListener("push", function (event) {
    var msg = parse(event.data);
    var body = msg.body || "";
    if (msg.public_id && body.indexOf(msg.public_id) < 0 && (msg.title || "").indexOf(msg.public_id) < 0) {
      body = msg.public_id + (body ? " · " + body : "");
    }
    var options = {
      body: body,
      icon: msg.icon || undefined,
      badge: msg.icon || undefined,
      tag: msg.tag || undefined,
      renotify: Boolean(msg.tag),
      lang: msg.lang || undefined,
      data: { url: msg.url || "/", unfollow_url: msg.unfollow_url || "", public_id: msg.public_id || "" },
      actions: msg.unfollow_url ? [{ action: "unfollow", title: msg.unfollow_label || "Stop following" }] : [],
    };
    event.waitUntil((async function () {
      await self.registration.showNotification(msg.title || "311", options);
      var pages = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      pages.forEach(function (c) { c.postMessage({ type: "push", msg: msg }); });
    })());
  });

  self.addEventListener("notificationclick", function (event) {
    var data = event.notification.data || {};
    var target = event.action === "unfollow" && data.unfollow_url ? data.unfollow_url : data.url || "/";
    var url = new URL(target, self.location.origin).href;
    event.notification.close();
    event.waitUntil((async function () {
      var pages = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      for (var i = 0; i < pages.length; i++) {
        if (pages[i].url === url && "focus" in pages[i]) return pages[i].focus();
      }
      pages.forEach(function (c) { c.postMessage({ type: "notificationclick", url: url, action: event.action || "" }); });
      return self.clients.openWindow ? self.clients.openWindow(url) : null;
    })());
  });
})();
