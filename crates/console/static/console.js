// keygate console: copy buttons, the usage-limit field, and the live refresh of machine
// state. Pages work without it; it only adds convenience. Loaded with `defer`, never inline
// (the Content-Security-Policy allows no inline script).
"use strict";

(function () {
  // ---- copy buttons: <button data-copy="ID"> copies the text of element ID ----
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    var label = button.textContent;
    button.addEventListener("click", function () {
      var source = document.getElementById(button.getAttribute("data-copy"));
      if (!source) return;
      var text = source.textContent.trim();
      var done = function (ok) {
        button.textContent = ok ? "Copied" : "Select and copy";
        setTimeout(function () { button.textContent = label; }, 2000);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(function () { done(true); }, function () { select(source); done(false); });
      } else {
        select(source);
        var ok = false;
        try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
        done(ok);
      }
    });
  });

  function select(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  // ---- the usage limit only applies to reusable keys ----
  var form = document.getElementById("generate-form");
  if (form) {
    var limit = form.querySelector("#usage_limit");
    var sync = function () {
      var reusable = form.querySelector('input[name="kind"][value="reusable"]').checked;
      limit.disabled = !reusable;
    };
    form.querySelectorAll('input[name="kind"]').forEach(function (r) { r.addEventListener("change", sync); });
    sync();
  }

  // ---- policy editor: the gutter follows the text, and a problem's link puts the caret on
  // its line and column ----
  var policy = document.getElementById("policy");
  var gutter = document.getElementById("policy-gutter");
  if (policy && gutter) {
    var renumber = function () {
      var count = policy.value.split("\n").length;
      while (gutter.children.length < count) {
        var li = document.createElement("li");
        li.textContent = String(gutter.children.length + 1);
        gutter.appendChild(li);
      }
      while (gutter.children.length > count) gutter.removeChild(gutter.lastChild);
      policy.rows = count + 1;
    };
    policy.addEventListener("input", renumber);
    document.querySelectorAll("#policy-problems a[data-line]").forEach(function (link) {
      link.addEventListener("click", function (event) {
        event.preventDefault();
        var line = Number(link.getAttribute("data-line"));
        var column = Number(link.getAttribute("data-column"));
        var lines = policy.value.split("\n");
        var offset = 0;
        for (var i = 0; i < line - 1 && i < lines.length; i++) offset += lines[i].length + 1;
        var here = lines[line - 1] || "";
        policy.focus({ preventScroll: true });
        policy.setSelectionRange(offset + Math.min(column - 1, here.length), offset + here.length);
        var row = gutter.children[line - 1];
        if (row) row.scrollIntoView({ block: "center" });
      });
    });
  }

  // ---- live state: poll /console/live; pending count in the header everywhere, and on the
  // Machines page a fresh table whenever the tailnet changed ----
  var badge = document.querySelector('[data-live="pending"]');
  if (!badge) return; // not signed in
  var panel = document.getElementById("machines-panel");
  var banner = document.getElementById("live-banner");
  var POLL_MS = 4000;
  var busy = false;

  function showPending(n) {
    badge.textContent = String(n);
    badge.hidden = n === 0;
  }

  // The user is in the middle of something on the page: do not swap it out from under them.
  function interacting() {
    var active = document.activeElement;
    return panel && active && active !== document.body && panel.contains(active) &&
      (active.tagName === "INPUT" || active.tagName === "SELECT" || active.tagName === "TEXTAREA");
  }

  function refreshPanel() {
    return fetch("/console/machines", { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("machines-panel");
        if (!fresh || !panel) return;
        var notice = panel.querySelector(".notice[role=status]:not(#live-banner)");
        var replacement = document.importNode(fresh, true);
        // Keep a notice the user has not read yet (approved, deleted…).
        var freshNotice = replacement.querySelector(".notice[role=status]:not(#live-banner)");
        if (notice && !freshNotice) {
          var stack = replacement.querySelector(".stack");
          if (stack) stack.insertBefore(notice, stack.firstChild);
        }
        panel.replaceWith(replacement);
        panel = replacement;
        banner = document.getElementById("live-banner");
      });
  }

  function poll() {
    if (busy || document.hidden) return;
    busy = true;
    fetch("/console/live", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (r.status === 401) { window.location.reload(); throw new Error("signed out"); }
        if (!r.ok) throw new Error(String(r.status));
        return r.json();
      })
      .then(function (live) {
        showPending(live.pending);
        if (panel && String(live.seq) !== panel.getAttribute("data-seq")) {
          if (interacting()) {
            if (banner) banner.hidden = false;
          } else {
            return refreshPanel();
          }
        }
      })
      .catch(function () { /* the next poll tries again */ })
      .then(function () { busy = false; });
  }

  poll();
  setInterval(poll, POLL_MS);
  document.addEventListener("visibilitychange", poll);
})();
