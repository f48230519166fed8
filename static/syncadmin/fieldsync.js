/* Synchronized fields: cycle arrows and reset the tab in place, without a round trip.
   It edits the same hidden inputs the no-JavaScript path posts, so OK saves what is shown. */
(function () {
  "use strict";
  var form = document.getElementById("fs-form");
  var data = document.getElementById("fs-directions");
  if (!form || !data) return;
  var texts = JSON.parse(data.textContent);
  var CYCLE = ["both", "to_outlook", "to_crm", "none"];
  var summary = document.getElementById("fs-summary");
  var announce = document.getElementById("fs-announce");

  function next(current, allowed) {
    var start = CYCLE.indexOf(current);
    for (var step = 1; step <= CYCLE.length; step++) {
      var candidate = CYCLE[(start + step) % CYCLE.length];
      if (allowed.indexOf(candidate) !== -1) return candidate;
    }
    return current;
  }

  function show(row, direction) {
    var button = row.querySelector("button.arrow");
    row.querySelector("input[name^='dir-']").value = direction;
    button.dataset.direction = direction;
    button.setAttribute("aria-label", row.dataset.label + ": " + texts[direction].label);
    button.querySelector("use").setAttribute("href", "#dir-" + direction);
    button.querySelector(".dir-text").textContent = texts[direction].short;
    var unsaved = direction !== row.dataset.saved;
    var modified = direction !== row.dataset.default;
    row.classList.toggle("is-unsaved", unsaved);
    row.classList.toggle("is-modified", modified);
    row.querySelector("[data-badge=unsaved]").hidden = !unsaved;
    row.querySelector("[data-badge=modified]").hidden = !modified;
  }

  function refresh() {
    var n = form.querySelectorAll("tr.is-unsaved").length;
    summary.textContent = n
      ? n + " unsaved change" + (n === 1 ? "" : "s") + ": press OK to save, or Cancel to discard."
      : "No unsaved changes.";
  }

  form.addEventListener("click", function (event) {
    var button = event.target.closest("button");
    if (!button) return;
    if (button.name === "cycle") {
      event.preventDefault();
      var row = button.closest("tr");
      var direction = next(button.dataset.direction, button.dataset.allowed.split(" "));
      show(row, direction);
      refresh();
      announce.textContent = row.dataset.label + ": " + texts[direction].label;
    } else if (button.id === "fs-reset") {
      event.preventDefault();
      form.querySelectorAll("tbody tr").forEach(function (r) {
        if (r.querySelector("button[name=cycle]")) show(r, r.dataset.default);
      });
      refresh();
      announce.textContent = "Every field set to its default; press OK to save.";
    }
  });

  // Leaving the tab drops pending changes: ask first (Cancel and OK are deliberate, so not them).
  document.querySelectorAll(".tabs a").forEach(function (link) {
    link.addEventListener("click", function (event) {
      var n = form.querySelectorAll("tr.is-unsaved").length;
      if (n && !window.confirm("Discard " + n + " unsaved change" + (n === 1 ? "" : "s") + "?")) {
        event.preventDefault();
      }
    });
  });
})();
