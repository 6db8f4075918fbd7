// The console's only script of its own (htmx does the rest). An htmx request that failed shows its error page's
// message in #console-error (base.html's htmx-config); the next request that succeeds takes it away.
document.addEventListener("htmx:afterRequest", function (event) {
  if (event.detail.successful) {
    var box = document.getElementById("console-error");
    if (box) box.replaceChildren();
  }
});
