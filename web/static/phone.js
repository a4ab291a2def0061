// qcall phone page: follow one ticket live. ES5, no framework; without EventSource the page's
// <noscript> refresh does not apply, so old browsers fall back to reloading every 20 s.
(function () {
  "use strict";
  var path = window.location.pathname.replace(/\/+$/, "");
  var audio = null, buzzed = false;

  function $(id) { return document.getElementById(id); }
  function text(id, value) { var el = $(id); if (el) el.textContent = value; }

  function beep() {
    try {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      if (!Ctx) return;
      audio = audio || new Ctx();
      var o = audio.createOscillator(), g = audio.createGain();
      o.frequency.value = 880; g.gain.value = 0.3;
      o.connect(g); g.connect(audio.destination);
      o.start(); o.stop(audio.currentTime + 0.6);
    } catch (e) { /* no sound allowed here */ }
  }

  function show(t) {
    document.body.className = "phone state-" + t.state;
    document.body.setAttribute("data-state", t.state);
    text("zh", t.zh); text("en", t.en);
    text("ahead", String(t.ahead)); text("wait", String(t.wait_min));
    var facts = $("facts");
    if (facts) facts.hidden = !(t.state === "waiting" || t.state === "near");
    var leave = $("leave");
    if (leave) leave.hidden = !(t.state === "waiting" || t.state === "near" || t.state === "missed");
    if (t.buzz && !buzzed) {
      buzzed = true;
      if (navigator.vibrate) navigator.vibrate([400, 200, 400, 200, 400]);
      beep();
    }
    if (!t.buzz) buzzed = false;
    document.body.setAttribute("data-updated", String(Date.now()));
  }

  if (!window.EventSource) { setTimeout(function () { window.location.reload(); }, 20000); return; }
  var row = $("sound-row"), btn = $("sound");
  if (row && btn && (window.AudioContext || window.webkitAudioContext)) {
    row.hidden = false;
    btn.onclick = function () { beep(); row.hidden = true; };  // browsers allow sound after a tap
  }
  var es = new EventSource(path + "/events");
  es.addEventListener("ticket", function (e) { show(JSON.parse(e.data)); });
  es.addEventListener("gone", function () { es.close(); });
})();
