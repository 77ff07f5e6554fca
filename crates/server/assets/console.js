// A sensitive value is typed into a password field, so it does not show on screen.
document.querySelectorAll("[data-masks]").forEach(function (box) {
  var field = document.getElementById(box.getAttribute("data-masks"));
  if (!field) return;
  var sync = function () { field.type = box.checked ? "password" : "text"; };
  box.addEventListener("change", sync);
  sync();
});
