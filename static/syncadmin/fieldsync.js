/* Synchronized fields: cycle arrows and reset the tab in place, without a round trip.
   It edits the same hidden inputs the no-JavaScript path posts, so OK saves what is shown. */
(function () {
  "use strict";

  // Hide the rows that do not match what is typed; say how many are shown.
  function wireFilter(input) {
    var table = document.getElementById(input.getAttribute("aria-controls"));
    var status = document.getElementById("fs-filter-status");
    var rows = table.querySelectorAll("tbody tr");
    input.closest(".field-filter").hidden = false;
    input.addEventListener("input", function () {
      var words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
      var shown = 0;
      rows.forEach(function (row) {
        var text = (row.dataset.search || row.textContent).toLowerCase();
        var match = words.every(function (w) {
          return text.indexOf(w) !== -1;
        });
        row.hidden = !match;
        if (match) shown++;
      });
      status.textContent = words.length
        ? shown + " of " + rows.length + " fields match."
        : "";
    });
  }

  var form = document.getElementById("fs-form");
  var data = document.getElementById("fs-directions");
  var filterBox = document.getElementById("fs-filter");
  if (!form || !data) {
    if (filterBox) wireFilter(filterBox); // the read-only page: only the filter box
    return;
  }
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

  function pending() {
    return form.querySelectorAll("tr.is-unsaved").length;
  }

  // OK, Reset (without JavaScript), Cancel and a confirmed tab switch are deliberate: they leave
  // without a second question. Anything else (a link, the breadcrumb, a reload, closing the
  // window) with pending arrows asks the browser's "Leave site?" first.
  var deliberate = false;
  form.addEventListener("submit", function () {
    deliberate = true;
  });
  var cancel = document.getElementById("fs-cancel");
  if (cancel) {
    cancel.addEventListener("click", function () {
      deliberate = true;
    });
  }
  window.addEventListener("beforeunload", function (event) {
    if (deliberate || !pending()) return;
    event.preventDefault();
    event.returnValue = "";
  });
  // The page came back from the back/forward cache: it is a fresh start.
  window.addEventListener("pageshow", function () {
    deliberate = false;
  });

  // Leaving the tab drops pending changes: ask first, in words that say how many.
  document.querySelectorAll(".tabs a").forEach(function (link) {
    link.addEventListener("click", function (event) {
      var n = pending();
      if (!n) return;
      if (window.confirm("Discard " + n + " unsaved change" + (n === 1 ? "" : "s") + "?")) {
        deliberate = true;
      } else {
        event.preventDefault();
      }
    });
  });

  // The filter box: show only the fields whose CRM or Outlook name contains the words typed.
  if (filterBox) wireFilter(filterBox);
})();
