/* otdel: small page behaviours; htmx does the requests. */
(function () {
  "use strict";
  // Close the user menu when clicking elsewhere.
  document.addEventListener("click", function (e) {
    document.querySelectorAll("details.user-menu[open]").forEach(function (d) {
      if (!d.contains(e.target)) d.removeAttribute("open");
    });
  });
  // Confirm dangerous actions: <button data-confirm="Sure?">.
  document.addEventListener("submit", function (e) {
    var btn = e.submitter;
    var text = (btn && btn.dataset.confirm) || e.target.dataset.confirm;
    if (text && !window.confirm(text)) e.preventDefault();
  }, true);
  // Copy-to-clipboard buttons: <button data-copy="#id">.
  document.addEventListener("click", function (e) {
    var btn = e.target.closest("[data-copy]");
    if (!btn) return;
    var el = document.querySelector(btn.dataset.copy);
    if (el && navigator.clipboard) navigator.clipboard.writeText(el.textContent.trim());
  });
  // Show server errors on htmx requests instead of failing silently.
  document.addEventListener("htmx:responseError", function (e) {
    var status = e.detail.xhr.status;
    if (status >= 500) window.alert("Server error " + status);
  });
})();
