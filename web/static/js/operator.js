// Call center: keyboard-first intake. Comboboxes (ARIA 1.2 pattern, aria-activedescendant), shortcuts,
// focus after each htmx answer. No inline scripts: the CSP is script-src 'self'.
(function () {
  "use strict";
  var form = document.getElementById("call-form");
  if (!form) return;
  var $ = function (id) { return document.getElementById(id); };

  function options(list) { return Array.prototype.slice.call(list.querySelectorAll('[role="option"]')); }
  function listOf(input) { return $(input.getAttribute("aria-controls")); }

  function setOpen(input, open) {
    var list = listOf(input);
    list.hidden = !open;
    input.setAttribute("aria-expanded", open ? "true" : "false");
    if (!open) input.removeAttribute("aria-activedescendant");
  }

  function activate(input, index) {
    var opts = options(listOf(input));
    if (!opts.length) return;
    index = (index + opts.length) % opts.length;
    opts.forEach(function (o, i) { o.setAttribute("aria-selected", i === index ? "true" : "false"); });
    input.setAttribute("aria-activedescendant", opts[index].id);
    opts[index].scrollIntoView({ block: "nearest" });
  }

  function activeIndex(input) {
    var id = input.getAttribute("aria-activedescendant");
    return options(listOf(input)).findIndex(function (o) { return o.id === id; });
  }

  function firstField(container) {
    return container && container.querySelector("input:not([type=hidden]), select, textarea");
  }

  function refreshNearby() {
    if ($("service-code").value && $("lat").value && $("long").value) htmx.trigger("#nearby", "refresh");
    else $("nearby").innerHTML = "";
  }

  function choose(input, option) {
    input.value = option.dataset.label;
    setOpen(input, false);
    if (input.dataset.combo === "service") {
      $("service-code").value = option.dataset.value;
      htmx.ajax("GET", "/operator/questions?service_code=" + encodeURIComponent(option.dataset.value),
        { target: "#questions", swap: "innerHTML" }).then(refreshNearby);
      ($("address").value ? (firstField($("questions")) || $("description")) : $("address")).focus();
    } else {
      $("lat").value = option.dataset.lat || "";
      $("long").value = option.dataset.long || "";
      refreshNearby();
      (firstField($("questions")) || $("description")).focus();
    }
  }

  document.querySelectorAll("[data-combo]").forEach(function (input) {
    var list = listOf(input);
    input.addEventListener("input", function () {
      if (input.dataset.combo === "service") $("service-code").value = "";
      else { $("lat").value = ""; $("long").value = ""; }
      if (!input.value.trim()) setOpen(input, false);
    });
    input.addEventListener("keydown", function (e) {
      var opts = options(list);
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        if (!opts.length) return;
        e.preventDefault();
        setOpen(input, true);
        var i = activeIndex(input);
        activate(input, e.key === "ArrowDown" ? i + 1 : (i < 0 ? opts.length - 1 : i - 1));
      } else if (e.key === "Enter" && !e.ctrlKey && !e.metaKey) {
        e.preventDefault(); // never submit the form from a combobox
        if (!list.hidden && opts.length) choose(input, opts[Math.max(activeIndex(input), 0)]);
      } else if (e.key === "Escape" && !list.hidden) {
        e.preventDefault();
        setOpen(input, false);
      }
    });
    input.addEventListener("blur", function () { setTimeout(function () { setOpen(input, false); }, 150); });
    list.addEventListener("mousedown", function (e) {
      var opt = e.target.closest('[role="option"]');
      if (opt) { e.preventDefault(); choose(input, opt); }
    });
  });

  document.body.addEventListener("htmx:afterSwap", function (e) {
    var target = e.detail.target;
    if (target && target.getAttribute("role") === "listbox") {
      var input = document.querySelector('[aria-controls="' + target.id + '"]');
      setOpen(input, options(target).length > 0 && document.activeElement === input);
    } else if (target && target.id === "result") {
      var done = target.querySelector("[data-focus-me]");
      (done || target).focus && (done || target).focus();
    }
  });

  // Enter in an ordinary field, or Ctrl+Enter anywhere in the form: save the request
  form.addEventListener("keydown", function (e) {
    if (e.key !== "Enter" || e.defaultPrevented) return;
    var t = e.target;
    var plainInput = t.tagName === "INPUT" && !t.hasAttribute("data-combo") &&
      ["text", "tel", "email", "number", "datetime-local"].indexOf(t.type) >= 0;
    if (e.ctrlKey || e.metaKey || plainInput) {
      e.preventDefault();
      form.requestSubmit($("save"));
    }
  });

  var SHORTCUTS = {
    KeyS: function () { return $("service-q"); },
    KeyA: function () { return $("address"); },
    KeyK: function () { return $("kb-q"); },
    KeyD: function () { return document.querySelector("#directory button"); },
    KeyN: function () { return $("caller-name"); },
    KeyE: function () { return $("outcome"); },
  };
  document.addEventListener("keydown", function (e) {
    if (!e.altKey || e.ctrlKey || e.metaKey || !SHORTCUTS[e.code]) return;
    var el = SHORTCUTS[e.code]();
    if (!el) return;
    e.preventDefault();
    el.focus();
    // a field the screen pop (or an earlier answer) filled in: typing replaces it instead of adding to it
    if (el.select && (el.tagName === "TEXTAREA" || /^(text|search|tel|email)$/.test(el.type))) el.select();
  });

  if (document.activeElement === document.body) $("service-q").focus();
})();
