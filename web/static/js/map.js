// Leaflet, loaded only when a map is opened (it is 40 KB compressed). The report flow never needs it:
// tiles may fail to load (weak signal, or a blocked tile server) and the address field still works.
window.C311Map = (() => {
  let map = null, pin = null, layer = null;
  const load = (tag, attrs) => new Promise((res, rej) => {
    const el = Object.assign(document.createElement(tag), attrs);
    el.onload = res; el.onerror = rej;
    document.head.append(el);
  });
  async function open(el, o) {
    if (!window.L) {
      await Promise.all([load("link", { rel: "stylesheet", href: o.leafletCss }), load("script", { src: o.leafletJs })]);
    }
    if (map) { map.invalidateSize(); return map; }
    const [lat, long] = o.center.split(",").map(Number);
    map = L.map(el, { keyboard: true }).setView([lat, long], Number(o.zoom) + 3);
    L.tileLayer(o.tileUrl, { attribution: o.tileAttribution, maxZoom: 19 }).addTo(map);
    el.setAttribute("role", "region");
    el.setAttribute("aria-label", o.msgMapHelp || "Map");
    if (o.onPick) {
      map.on("click", (e) => { setPin(e.latlng.lat, e.latlng.lng); o.onPick(e.latlng.lat, e.latlng.lng); });
      const help = document.createElement("p");
      help.className = "muted"; help.textContent = o.msgMapHelp;
      const b = document.createElement("button");
      b.type = "button"; b.textContent = o.msgMapCentre;
      b.addEventListener("click", () => { const c = map.getCenter(); setPin(c.lat, c.lng); o.onPick(c.lat, c.lng); });
      const box = document.createElement("div");
      box.className = "map-tools";
      box.append(help, b);
      el.after(box);
    }
    if (o.points) points(o.points);
    return map;
  }
  function setPin(lat, long) {
    if (!map) return;
    if (pin) pin.setLatLng([lat, long]); else pin = L.marker([lat, long]).addTo(map);
    map.panTo([lat, long]);
  }
  function points(list) {
    if (!map) return;
    if (layer) layer.remove();
    layer = L.layerGroup(list.map((p) => {
      const a = document.createElement("a");
      a.href = p.href; a.textContent = p.title;
      return L.marker([Number(p.lat), Number(p.long)], { title: p.title, alt: p.title }).bindPopup(a);
    })).addTo(map);
    if (list.length) map.fitBounds(list.map((p) => [Number(p.lat), Number(p.long)]), { maxZoom: 16, padding: [20, 20] });
  }
  return { open, setPin, points };
})();
