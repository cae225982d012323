// Live SLA clocks: a running clock ticks every second from the server's elapsed time.
(function () {
  function fmt(s) {
    var neg = s < 0; s = Math.abs(Math.floor(s));
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60), x = s % 60;
    var p = function (n) { return (n < 10 ? "0" : "") + n; };
    var t = d ? d + "d " + p(h) + "h " + p(m) + "m" : h ? h + "h " + p(m) + "m" : m + "m " + p(x) + "s";
    return (neg ? "-" : "") + t;
  }
  var started = Date.now();
  function tick() {
    document.querySelectorAll(".sla[data-running='1']").forEach(function (el) {
      var elapsed = +el.dataset.elapsed + (Date.now() - started) / 1000;
      el.querySelector(".elapsed").textContent = fmt(elapsed);
      if (elapsed > +el.dataset.target) {
        el.querySelector(".state").textContent = "breached";
        el.className = "sla breached";
      }
      var meter = el.querySelector("meter");
      if (meter) meter.value = Math.min(elapsed / +el.dataset.target, 1);
    });
  }
  setInterval(tick, 1000);
})();
