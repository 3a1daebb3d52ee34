// Dispatch queue: "choose all" for bulk actions, and the map of the filtered requests (only on the map view).
(function () {
  "use strict";

  document.addEventListener("change", function (ev) {
    if (ev.target && ev.target.id === "check-all") {
      document.querySelectorAll('#queue-rows input[name="ids"]').forEach(function (box) {
        box.checked = ev.target.checked;
      });
    }
  });

  var el = document.getElementById("queue-map");
  var data = document.getElementById("queue-points");
  if (!el || !data || typeof window.L === "undefined") return;
  var points = JSON.parse(data.textContent || "[]");
  var center = el.dataset.center.split(",").map(Number);
  var map = window.L.map(el).setView(center, Number(el.dataset.zoom) || 13);
  // tiles may fail to load (offline, blocked): the markers and the list still work
  window.L.tileLayer(el.dataset.tiles, { attribution: el.dataset.attribution, maxZoom: 19 }).addTo(map);
  var bounds = [];
  points.forEach(function (p) {
    // size as well as colour tells overdue apart (the key under the map says which is which)
    var marker = window.L.circleMarker([p.lat, p.long], {
      radius: p.overdue ? 9 : 6,
      weight: p.overdue ? 3 : 2,
      color: p.overdue ? "#a50e0e" : "#0b4f8a",
      fillOpacity: 0.8,
    }).addTo(map);
    var link = document.createElement("a");
    link.href = "/dispatch/requests/" + encodeURIComponent(p.id);
    link.textContent = p.id + " · " + p.service + (p.overdue ? " · " + (el.dataset.overdueLabel || "overdue") : "");
    marker.bindPopup(link);
    bounds.push([p.lat, p.long]);
  });
  if (bounds.length > 1) map.fitBounds(bounds, { padding: [20, 20], maxZoom: 16 });
})();
