/* The pending-deletions desk: a live countdown to each deadline.
 *
 * Each `.pd-countdown` carries its deadline (`data-deadline`) and the server's clock when the page
 * was rendered (`data-now`); the server's text stays as it is without JavaScript. The browser's
 * clock may be off, so the countdown runs on the server's clock: its offset is measured once.
 */
(function () {
  "use strict";

  function pad(value) {
    return value < 10 ? "0" + value : String(value);
  }

  function format(seconds) {
    if (seconds <= 0) {
      return "overdue";
    }
    var hours = Math.floor(seconds / 3600);
    var minutes = Math.floor((seconds % 3600) / 60);
    var rest = seconds % 60;
    if (hours) {
      return hours + " h " + pad(minutes) + " min " + pad(rest) + " s";
    }
    if (minutes) {
      return minutes + " min " + pad(rest) + " s";
    }
    return rest + " s";
  }

  function start() {
    var elements = Array.prototype.slice.call(document.querySelectorAll(".pd-countdown[data-deadline]"));
    if (!elements.length) {
      return;
    }
    var serverNow = Date.parse(elements[0].getAttribute("data-now"));
    var offsetMs = isNaN(serverNow) ? 0 : serverNow - Date.now();
    var deadlines = elements.map(function (element) {
      return Date.parse(element.getAttribute("data-deadline"));
    });

    function tick() {
      var now = Date.now() + offsetMs;
      elements.forEach(function (element, index) {
        if (isNaN(deadlines[index])) {
          return;
        }
        var left = Math.floor((deadlines[index] - now) / 1000);
        element.textContent = format(left);
        element.classList.toggle("pd-overdue", left <= 0);
        element.classList.toggle("pd-soon", left > 0 && left < 3600);
        element.setAttribute("data-seconds-left", String(Math.max(0, left)));
        element.classList.add("pd-live");
      });
    }

    tick();
    window.setInterval(tick, 1000);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
