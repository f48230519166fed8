/* A button marked data-once submits its form once: a double click does not post twice. */
document.addEventListener("submit", function (event) {
  var button = event.submitter;
  if (button && button.hasAttribute("data-once")) {
    window.setTimeout(function () {
      button.disabled = true;
    }, 0);
  }
});
