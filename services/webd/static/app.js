// Outpost web shell: progressive enhancement only. Every flow works
// without this file; it adds keyboard shortcuts and confirmations.
"use strict";
(function () {
  function rows() { return Array.prototype.slice.call(document.querySelectorAll("table.messages tbody tr")); }
  var cur = -1;
  function mark(i) {
    var r = rows();
    if (!r.length) return;
    if (cur >= 0 && r[cur]) r[cur].classList.remove("kbd");
    cur = Math.max(0, Math.min(r.length - 1, i));
    r[cur].classList.add("kbd");
    r[cur].scrollIntoView({ block: "nearest" });
  }
  function click(sel) { var b = document.querySelector(sel); if (b) b.click(); }
  document.addEventListener("keydown", function (e) {
    var t = e.target;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable)) return;
    var r = rows();
    switch (e.key) {
      case "j": mark(cur + 1); break;
      case "k": mark(cur - 1); break;
      case "o": case "Enter":
        if (r[cur]) { var a = r[cur].querySelector("td a"); if (a) a.click(); }
        break;
      case "x":
        if (r[cur]) { var c = r[cur].querySelector("input[type=checkbox]"); if (c) c.checked = !c.checked; }
        break;
      case "#": case "Delete": click('button[name="do"][value="delete"]'); break;
      case "c": if (document.querySelector('a[data-compose]')) document.querySelector('a[data-compose]').click(); break;
      case "/": var q = document.getElementById("q"); if (q) { e.preventDefault(); q.focus(); } break;
      case "u": var back = document.querySelector('input[name="back"]'); if (back && document.querySelector("main.message")) location.href = back.value; break;
      default: return;
    }
  });
  document.addEventListener("submit", function (e) {
    var b = e.submitter;
    if (b && b.classList.contains("danger") && !window.confirm(b.textContent + "?")) e.preventDefault();
  });
})();
