// qcall live pages: one EventSource per page; the server sends the HTML of the sections that
// changed ({"queues": "<table…>", …}) and this swaps them in. No framework, no polling; works
// on old tablet browsers. Waits shown in minutes tick here between updates.
(function () {
  "use strict";
  var csrf = (document.querySelector('meta[name="csrf"]') || {}).content || "";
  var link = document.getElementById("link");

  function fillCsrf(root) {
    var inputs = root.querySelectorAll('input[name="csrf"]');
    for (var i = 0; i < inputs.length; i++) { if (!inputs[i].value) inputs[i].value = csrf; }
  }

  function tick() {
    var now = Date.now() / 1000, els = document.querySelectorAll("[data-since]");
    for (var i = 0; i < els.length; i++) {
      var since = parseFloat(els[i].getAttribute("data-since"));
      if (since) els[i].textContent = Math.max(0, Math.round((now - since) / 60));
    }
  }

  function swap(sections) {
    for (var name in sections) {
      var els = document.querySelectorAll('[data-live="' + name + '"]');
      for (var i = 0; i < els.length; i++) {
        els[i].innerHTML = sections[name];
        fillCsrf(els[i]);
      }
    }
    tick();
    document.body.setAttribute("data-updated", String(Date.now()));
  }

  if (!window.EventSource || !document.querySelector("[data-live]")) return;
  var es = new EventSource("/events");
  es.addEventListener("sections", function (e) { swap(JSON.parse(e.data)); });
  es.addEventListener("bye", function () { es.close(); window.location.href = "/login"; });
  es.onopen = function () { if (link) link.className = "link up"; };
  es.onerror = function () { if (link) link.className = "link down"; };
  setInterval(tick, 15000);
})();
