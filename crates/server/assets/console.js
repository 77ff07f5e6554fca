// A sensitive value is typed into a password field, so it does not show on screen.
document.querySelectorAll("[data-masks]").forEach(function (box) {
  var field = document.getElementById(box.getAttribute("data-masks"));
  if (!field) return;
  var sync = function () { field.type = box.checked ? "password" : "text"; };
  box.addEventListener("change", sync);
  sync();
});

// A deployment page follows its deployment: every 1.5 s it asks `/deployments/{id}/live` for
// the state, the steps × targets grid and the output lines it has not shown yet, until the
// deployment is final. Without script the page is a snapshot; "Reload" refreshes it.
(function () {
  var root = document.querySelector("[data-live]");
  if (!root || !window.fetch || root.hasAttribute("data-final")) return;
  var url = root.getAttribute("data-live");
  var after = root.getAttribute("data-after") || "";
  var shownRows = "";
  var failures = 0;

  function el(tag, className, text) {
    var e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function badge(b) { return el("span", "tag " + b.tone, b.label); }
  function fill(id, node) {
    var target = document.getElementById(id);
    if (!target) return;
    while (target.firstChild) target.removeChild(target.firstChild);
    target.appendChild(node);
  }

  function showGrid(rows) {
    var body = document.querySelector("#grid tbody");
    var key = JSON.stringify(rows);
    if (!body || key === shownRows) return;
    shownRows = key;
    var fresh = document.createDocumentFragment();
    rows.forEach(function (row) {
      var tr = el("tr", row.undo ? "undo" : "");
      var th = el("th");
      th.scope = "row";
      if (row.undo) { th.appendChild(el("span", "tag warn", "undo")); th.appendChild(document.createTextNode(" ")); }
      th.appendChild(document.createTextNode(row.step + " "));
      th.appendChild(el("code", "", row.kind));
      tr.appendChild(th);
      row.cells.forEach(function (c) {
        var td = el("td", "cell");
        td.title = c.title;
        td.appendChild(badge(c));
        if (c.detail) { td.appendChild(document.createTextNode(" ")); td.appendChild(el("span", "detail", c.detail)); }
        if (c.summary) td.appendChild(el("span", "summary", c.summary));
        tr.appendChild(td);
      });
      fresh.appendChild(tr);
    });
    while (body.firstChild) body.removeChild(body.firstChild);
    body.appendChild(fresh);
  }

  function appendLogs(lines) {
    var log = document.getElementById("log");
    if (!log || !lines.length) return;
    var atBottom = log.hidden || log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    lines.forEach(function (l) {
      var line = el("div", "line");
      line.appendChild(el("span", "src", l.source));
      line.appendChild(document.createTextNode(" " + l.text));
      log.appendChild(line);
    });
    log.hidden = false;
    var empty = document.getElementById("log-empty");
    if (empty) empty.hidden = true;
    if (atBottom) log.scrollTop = log.scrollHeight;
  }

  // The failed step's last lines, under the failure (text only, never markup).
  function showTail(tail) {
    var box = document.getElementById("failure-tail");
    if (!box) return;
    box.hidden = !tail;
    if (!tail) return;
    var said = el("p", "flush", "Last lines of " + tail.source + (tail.lines.length ? "" : ": it printed nothing"));
    var pre = el("pre", "log", tail.lines.join("\n"));
    pre.tabIndex = 0;
    box.replaceChildren(said, pre);
  }

  function show(data) {
    fill("deployment-state", badge(data.badge));
    fill("deployment-failure", data.failure ? el("strong", "", data.failure) : el("span", "muted", "none"));
    showTail(data.failure_tail);
    fill("deployment-finished", data.finished ? document.createTextNode(data.finished) : el("span", "muted", "not yet"));
    showGrid(data.rows);
    appendLogs(data.logs);
    after = data.after || after;
    document.querySelectorAll("[data-states]").forEach(function (e) {
      e.hidden = e.getAttribute("data-states").split(" ").indexOf(data.state) < 0;
    });
  }

  function stop(text) {
    var status = document.getElementById("live-status");
    if (status) status.firstChild.textContent = text + " ";
  }

  function poll() {
    fetch(url + (after ? "?after=" + encodeURIComponent(after) : ""), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        var json = (r.headers.get("content-type") || "").indexOf("json") >= 0;
        if (!r.ok || !json) throw new Error("status " + r.status);
        return r.json();
      })
      .then(function (data) {
        failures = 0;
        show(data);
        if (data.more) setTimeout(poll, 100);
        else if (data.final) stop("This deployment is over.");
        else setTimeout(poll, 1500);
      })
      .catch(function () {
        failures += 1;
        if (failures >= 5) stop("Live updates stopped (the server did not answer); reload the page.");
        else setTimeout(poll, 3000);
      });
  }
  setTimeout(poll, 1500);
})();

// Digests: with script, a button copies the whole value; without it, the digest unfolds so
// the whole value can be selected.
document.querySelectorAll("button.copy[data-copy]").forEach(function (button) {
  if (!navigator.clipboard) return;
  button.hidden = false;
  button.addEventListener("click", function () {
    navigator.clipboard.writeText(button.getAttribute("data-copy")).then(function () {
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = "Copy"; }, 1500);
    });
  });
});

// Times say "3 min ago" with the exact UTC time on hover; with script, the hover also gives the
// reader's own time zone, which only the browser knows.
document.querySelectorAll("time[datetime][title]").forEach(function (time) {
  var moment = new Date(time.getAttribute("datetime"));
  if (isNaN(moment.getTime())) return;
  var local = moment.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium", timeZoneName: "short" });
  time.title = local + " · " + time.title;
});

// The navigation's menus (see the frame in console.css): without script they open on hover and
// on keyboard focus; with it a click opens one and closes the others, Escape or a click
// elsewhere closes it, and Escape gives the focus back to the menu's button.
(function () {
  var groups = [].slice.call(document.querySelectorAll("header nav .group"));
  if (!groups.length) return;
  var folded = window.matchMedia("(max-width: 48rem)");
  function button(g) { return g.querySelector(".group-name"); }
  function close(g) {
    button(g).setAttribute("aria-expanded", "false");
  }
  groups.forEach(function (g) {
    button(g).addEventListener("click", function () {
      if (folded.matches) return;
      var open = button(g).getAttribute("aria-expanded") === "true";
      groups.forEach(close);
      g.classList.toggle("closed", open);
      button(g).setAttribute("aria-expanded", open ? "false" : "true");
    });
    // Hover and focus open it again once the reader has left it.
    g.addEventListener("mouseleave", function () { g.classList.remove("closed"); });
    g.addEventListener("focusout", function (e) {
      if (!g.contains(e.relatedTarget)) { g.classList.remove("closed"); close(g); }
    });
  });
  document.addEventListener("keydown", function (e) {
    if (e.key !== "Escape" || folded.matches) return;
    groups.forEach(function (g) {
      if (!g.contains(document.activeElement) && button(g).getAttribute("aria-expanded") !== "true") return;
      close(g);
      g.classList.add("closed");
      button(g).focus();
    });
  });
  document.addEventListener("click", function (e) {
    groups.forEach(function (g) {
      if (!g.contains(e.target)) close(g);
    });
  });
})();

// A file picker that fills a form's text field with the chosen file (the complaints' CSV
// import): the form stays a plain signed form, and works without this script by pasting.
document.querySelectorAll("input[type=file][data-file-into]").forEach(function (picker) {
  picker.addEventListener("change", function () {
    var into = document.getElementById(picker.getAttribute("data-file-into"));
    var file = picker.files && picker.files[0];
    if (!into || !file) return;
    file.text().then(function (text) { into.value = text; });
  });
});
