// Live warnings on /me/warnings: new warnings arrive by Server-Sent Events from
// /me/warnings/stream and are added at the top of the list. Without JavaScript the page
// works by reloading. Text is set with textContent only (never as HTML).
(function () {
  "use strict";
  var list = document.getElementById("warnings");
  var state = document.getElementById("live-state");
  if (!list || !state || typeof EventSource === "undefined") {
    return;
  }
  var labels = {
    INFO: list.dataset.labelInfo,
    WARNING: list.dataset.labelWarning,
    DANGER: list.dataset.labelDanger
  };
  var seen = {};
  var source = new EventSource(list.dataset.stream);

  function paragraph(text, className) {
    var p = document.createElement("p");
    if (className) {
      p.className = className;
    }
    p.textContent = text;
    return p;
  }

  // A whole translated message with its placeholder ("Zone : {zone}" in French) filled.
  function fill(template, placeholder, value) {
    return String(template || placeholder).split(placeholder).join(String(value));
  }

  function show(message) {
    state.textContent = message;
  }

  source.addEventListener("open", function () {
    show(state.dataset.live);
  });
  source.addEventListener("alert", function (event) {
    var warning;
    try {
      warning = JSON.parse(event.data);
    } catch (e) {
      return;
    }
    if (!warning || !warning.id || seen[warning.id]) {
      return;
    }
    seen[warning.id] = true;
    var severity = String(warning.severity || "INFO").toUpperCase();
    var item = document.createElement("li");
    item.className = "severity-" + severity.toLowerCase();
    var head = document.createElement("p");
    var strong = document.createElement("strong");
    strong.textContent = labels[severity] || severity;
    head.appendChild(strong);
    if (warning.zone) {
      head.appendChild(document.createTextNode(" · " + fill(list.dataset.labelZone, "{zone}", warning.zone)));
    }
    item.appendChild(head);
    item.appendChild(paragraph(warning.text || ""));
    if (warning.validUntilText) {
      item.appendChild(paragraph(fill(list.dataset.labelUntil, "{when}", warning.validUntilText), "muted"));
    }
    list.insertBefore(item, list.firstChild);
    var none = document.getElementById("no-warnings");
    if (none) {
      none.remove();
    }
  });
  source.addEventListener("end", function () {
    source.close();
    show(state.dataset.lost);
  });
  source.addEventListener("error", function () {
    if (source.readyState === EventSource.CLOSED) {
      show(state.dataset.lost);
    }
  });
}());
