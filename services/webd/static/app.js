// Outpost web shell: progressive enhancement only. Every flow works
// without this file; it adds keyboard shortcuts, confirmations, drag
// and drop onto folders, the attachment size check, address completion
// and the drafts autosave.
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
  // Drag and drop: rows of the list dragged onto a folder are moved
  // there (the dragged row, and every ticked one with it), through the
  // list form's own Move. Bound again whenever the list is replaced.
  function bindList() {
    var listForm = document.getElementById("list");
    if (!listForm || !listForm.elements.to) return;
    rows().forEach(function (r) {
      var box = r.querySelector("input[type=checkbox]");
      if (!box) return;
      r.draggable = true;
      r.addEventListener("dragstart", function (e) {
        box.checked = true;
        e.dataTransfer.setData("text/x-outpost-move", "1");
        e.dataTransfer.effectAllowed = "move";
      });
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll("nav.folders a[data-folder]"), function (a) {
    var folder = a.getAttribute("data-folder");
    a.addEventListener("dragover", function (e) {
      if (e.dataTransfer.types.indexOf("text/x-outpost-move") < 0) return;
      e.preventDefault();
      a.classList.add("drop");
    });
    a.addEventListener("dragleave", function () { a.classList.remove("drop"); });
    a.addEventListener("drop", function (e) {
      e.preventDefault();
      a.classList.remove("drop");
      var listForm = document.getElementById("list");
      if (!listForm || !listForm.elements.to) return;
      var to = listForm.elements.to, opt = null;
      for (var i = 0; i < to.options.length; i++) if (to.options[i].value === folder) opt = to.options[i];
      if (!opt) return; // the folder shown (or none): nothing to move
      to.value = folder;
      listForm.requestSubmit(listForm.querySelector('button[name="do"][value="move"]'));
    });
  });
  bindList();
  // On the list page, a search, a sort or another page fetches only what
  // changes (the server answers X-Outpost-Part: list with the heading,
  // sort links, rows and page links) and keeps the rest of the page; any
  // failure falls back to loading the whole page.
  var main = document.querySelector("div.mail > main");
  function showList(url, push) {
    return fetch(url, { credentials: "same-origin", headers: { "X-Outpost-Part": "list" } })
      .then(function (r) {
        if (!r.ok || !/text\/html/.test(r.headers.get("content-type") || "")) throw new Error("HTTP " + r.status);
        return r.text();
      })
      .then(function (html) {
        var t = document.createElement("template");
        t.innerHTML = html;
        ["list-h", "list-back", "list-sort", "list-rows", "list-pages"].forEach(function (id) {
          var now = document.getElementById(id), next = t.content.getElementById(id);
          if (!now || !next) throw new Error("no " + id);
          now.replaceWith(next);
        });
        cur = -1;
        bindList();
        if (push) history.pushState({ list: true }, "", url);
      })
      .catch(function () { location.href = url; });
  }
  if (main && document.getElementById("list") && window.fetch && window.history.pushState) {
    var search = document.querySelector("form.search");
    if (search) search.addEventListener("submit", function (e) {
      e.preventDefault();
      var params = new URLSearchParams(new FormData(search));
      showList(search.getAttribute("action") + "?" + params.toString(), true);
    });
    main.addEventListener("click", function (e) {
      var a = e.target.closest && e.target.closest(".sort a, .pages a");
      if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
      e.preventDefault();
      showList(a.getAttribute("href"), true);
    });
    window.addEventListener("popstate", function () { showList(location.href, false); });
  }
  document.addEventListener("submit", function (e) {
    var b = e.submitter;
    if (b && b.classList.contains("danger") && !window.confirm(b.textContent + "?")) e.preventDefault();
  });
  // Compose: check the files' size before they travel, and save the draft
  // every 30 s while it changes (and when the tab is hidden).
  var form = document.getElementById("compose");
  if (form && window.fetch && window.FormData) {
    var status = document.getElementById("draft-status");
    var attach = document.getElementById("attach");
    var max = parseInt(form.getAttribute("data-max-attach"), 10) || 0;
    var dirty = false, busy = false, pending = null;
    form.addEventListener("input", function () { dirty = true; });
    form.addEventListener("change", function () { dirty = true; });
    if (attach) attach.addEventListener("change", function () {
      var total = 0;
      for (var i = 0; i < attach.files.length; i++) total += attach.files[i].size;
      if (max && total > max) {
        status.textContent = "Those files are too large together; attach fewer or smaller ones.";
        attach.value = "";
      }
    });
    var list = function (items) {
      var ul = document.getElementById("attached");
      while (ul.firstChild) ul.removeChild(ul.firstChild);
      items.forEach(function (a) {
        var li = document.createElement("li"), label = document.createElement("label");
        var box = document.createElement("input");
        box.type = "checkbox"; box.name = "keep"; box.value = String(a.part); box.checked = true;
        label.appendChild(box);
        label.appendChild(document.createTextNode(" " + a.name + " (" + a.size + ")"));
        li.appendChild(label); ul.appendChild(li);
      });
    };
    var sending = false;
    var save = function () {
      if (!dirty || busy || sending) return;
      busy = true; dirty = false;
      var data = new FormData(form);
      data.set("action", "draft");
      // keepalive lets a save started as the page goes away finish (its
      // body must stay small: no new files).
      var small = !(attach && attach.files.length);
      // getAttribute: the Send/Save buttons are named "action", which
      // shadows form.action.
      fetch(form.getAttribute("action"), { method: "POST", body: data, credentials: "same-origin", keepalive: small, headers: { "Accept": "application/json" } })
        .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
        .then(function (j) {
          form.elements.draft.value = j.draft;
          form.elements.src_f.value = j.src_f;
          form.elements.src_uid.value = j.src_uid;
          list(j.attachments);
          if (attach) attach.value = "";
          status.textContent = "Draft saved at " + new Date().toLocaleTimeString() + ".";
        })
        .catch(function () { dirty = true; status.textContent = "Draft not saved (no connection?); retrying."; })
        .then(function () {
          busy = false;
          if (pending) { var b = pending; pending = null; form.requestSubmit(b); }
        });
    };
    // A send during an autosave waits for it (the draft it replaces is gone).
    // Once a send or save is on its way, leaving the page saves nothing
    // more (a draft of a message just sent would linger).
    form.addEventListener("submit", function (e) {
      if (busy) { e.preventDefault(); pending = e.submitter || null; return; }
      sending = true;
    });
    window.addEventListener("pageshow", function (e) { if (e.persisted) sending = false; });
    // Address completion: the part after the last comma of To, Cc or
    // Bcc is looked up (contacts, then the directory) and offered in a
    // datalist whose values keep what was typed before it.
    var suggest = document.createElement("datalist");
    suggest.id = "addr-suggest";
    form.appendChild(suggest);
    var timer = null, asked = "";
    ["to", "cc", "bcc"].forEach(function (id) {
      var box = document.getElementById(id);
      if (!box) return;
      box.setAttribute("list", "addr-suggest");
      box.addEventListener("input", function () {
        clearTimeout(timer);
        timer = setTimeout(function () {
          var v = box.value, cut = Math.max(v.lastIndexOf(","), v.lastIndexOf(";"));
          var head = cut < 0 ? "" : v.slice(0, cut + 1) + " ", word = v.slice(cut + 1).trim();
          if (!word || word === asked) return;
          asked = word;
          fetch("/mail/addresses?q=" + encodeURIComponent(word), { credentials: "same-origin" })
            .then(function (r) { return r.ok ? r.json() : []; })
            .then(function (list) {
              while (suggest.firstChild) suggest.removeChild(suggest.firstChild);
              list.forEach(function (p) {
                var o = document.createElement("option");
                o.value = head + (p.name ? p.name.replace(/[<>,;"]/g, "") + " <" + p.address + ">" : p.address) + ", ";
                o.textContent = p.name ? p.name + " <" + p.address + ">" : p.address;
                suggest.appendChild(o);
              });
            })
            .catch(function () {});
        }, 150);
      });
    });
    setInterval(save, 30000);
    document.addEventListener("visibilitychange", function () { if (document.hidden) save(); });
  }
})();
