"""The stylesheet and script inlined into every diagram page.

They live here as strings, not as files beside the module, so the page stays one
self-contained file (no network, no CDN, no package data to ship) and the renderer
needs no resource loading. Host colours are the only generated CSS (render.py).
"""

from __future__ import annotations

# Okabe & Ito's colour-blind-safe palette without yellow (unreadable on white) and
# vermillion (reserved for "held"), plus two of Paul Tol's that stay distinct for
# deuteranopes and protanopes. Kinds use their own neutral or reserved colours.
HOST_PALETTE: tuple[str, ...] = (
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#0072B2",  # blue
    "#CC79A7",  # reddish purple
    "#332288",  # indigo
    "#882255",  # wine
    "#999933",  # olive
)
SERVER_COLOUR = "#455A64"

CSS = """
:root{--z:1;--ink:#1f2933;--muted:#5f6b7a;--line:#d5dbe3;--held:#D55E00;--ok:#009E73;
--font:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans","Liberation Sans",sans-serif}
*{box-sizing:border-box}
html,body{height:100%;margin:0}
body{display:grid;grid-template-rows:auto 1fr;grid-template-columns:1fr 240px;
font:13px/1.4 var(--font);color:var(--ink);background:#fff}
.top{grid-column:1/3;display:flex;align-items:center;gap:12px;padding:8px 14px;
border-bottom:1px solid var(--line);background:#f8fafc;min-width:0}
.top h1{font-size:15px;margin:0;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.summary{color:var(--muted);white-space:nowrap}
.zoom{margin-left:auto;display:flex;align-items:center;gap:4px;white-space:nowrap}
.zoom button{font:inherit;min-width:30px;height:26px;border:1px solid #b8c2cf;background:#fff;
border-radius:5px;cursor:pointer;color:var(--ink)}
.zoom button:hover{background:#eef2f7}
.zoom output{min-width:46px;text-align:center;font-variant-numeric:tabular-nums}
.hint{color:var(--muted);font-size:12px;margin-right:6px}
.scroller{overflow:auto;position:relative;min-width:0;min-height:0;background:#fff}
.hosts{position:sticky;top:0;z-index:2;height:34px;width:calc(var(--w) * var(--z));
min-width:100%;background:#fff;border-bottom:1px solid var(--line)}
.host{position:absolute;top:5px;left:calc(var(--x) * var(--z));transform:translateX(-50%);
padding:2px 9px;border-radius:12px;font-weight:600;white-space:nowrap;background:#fff;
border:2px solid var(--c);max-width:calc(var(--col) * var(--z) - 6px);overflow:hidden;
text-overflow:ellipsis}
.host.server{background:var(--c);color:#fff}
.canvas{overflow:hidden}
.diagram{display:block;transform-origin:0 0;transform:scale(1)}
.side{border-left:1px solid var(--line);overflow:auto;padding:10px 12px;background:#fbfcfd;
display:flex;flex-direction:column;gap:12px;min-height:0}
.side h2{font-size:12px;text-transform:uppercase;letter-spacing:.06em;color:var(--muted);
margin:0 0 6px}
.info{background:#fff;border:1px solid var(--line);border-radius:8px;padding:8px 10px;
min-height:120px}
.info .empty{color:var(--muted)}
.info .head{font-weight:600;font-size:14px;margin-bottom:4px;overflow-wrap:anywhere}
.info .swatch{display:inline-block;width:10px;height:10px;border-radius:50%;
margin-right:6px;background:var(--c)}
.info dl{margin:0;display:grid;grid-template-columns:auto 1fr;gap:2px 8px}
.info dt{color:var(--muted)}
.info dd{margin:0;overflow-wrap:anywhere}
.info table.clock{border-collapse:collapse;margin-top:6px;font-variant-numeric:tabular-nums}
.info table.clock td{border:1px solid var(--line);padding:1px 6px}
.info table.clock td:last-child{text-align:right}
.info table.clock tr.own td{font-weight:700;background:#eef6ff}
.legend ul{list-style:none;margin:0;padding:0;display:grid;gap:3px}
.legend li{display:flex;align-items:center;gap:8px}
.legend svg{flex:none;overflow:visible}
.legend .icons{display:flex;width:22px;flex:none;justify-content:center;align-items:center}
.legend .icons svg+svg,.legend .icons svg:has(+svg){width:11px;height:11px}
.legend li{font-size:12.5px}
.legend .arrow{stroke:#0072B2;stroke-opacity:1}
.legend .note{color:var(--muted);font-size:12px;margin:6px 0 0}
.band{fill:#eef1f5}
.guide{stroke:#e3e8ee;stroke-width:1;stroke-dasharray:3 5}
.lifeline{stroke:var(--c);stroke-width:2.5;stroke-linecap:round}
.lifeline.server{stroke-width:4}
.held{fill:var(--held);fill-opacity:.22;stroke:var(--held);stroke-width:1.5}
.held.open{stroke-dasharray:4 3}
.held-label{fill:#a33f00;font-size:11.5px;font-weight:600}
.arrow{fill:none;stroke:var(--c);stroke-width:1.7;stroke-opacity:.85}
.lb,.held-label{font-family:var(--font);paint-order:stroke;stroke:#fff;stroke-width:3px;
stroke-linejoin:round}
.lb{font-size:11.5px;fill:#3a4654}
.lb.send{fill:var(--ink);font-weight:600}
.small .lb,.small .held-label{display:none}
.ev{cursor:pointer;stroke-width:1.6}
.ev:focus{outline:none}
.ev.hl{stroke:#000;stroke-width:2}
.ev.sel{stroke:#000;stroke-width:3}
.focus .arrow{stroke-opacity:.4}
.focus .arrow.hl{stroke-opacity:1;stroke-width:3}
.k-send{fill:var(--ink);stroke:#fff}
.k-receive{fill:#fff;stroke:var(--ink)}
.k-relay{fill:#455A64;stroke:#fff}
.k-hold{fill:var(--held);stroke:#fff}
.k-deliver{fill:var(--ok);stroke:#fff}
.k-duplicate{fill:none;stroke:#7b3f9e;stroke-width:2.4}
.k-join,.k-leave{fill:#8a96a3;stroke:#fff}
.k-member-joined,.k-member-left,.k-other{fill:#b7c0ca;stroke:#fff}
.ev.k-duplicate.sel{stroke:#000}
"""

JS = """
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("trace-data").textContent);
  var svg = document.getElementById("diagram");
  var scroller = document.getElementById("scroller");
  var canvas = document.getElementById("canvas");
  var header = document.getElementById("hosts");
  var body = document.getElementById("info-body");
  var level = document.getElementById("zoom-level");
  var W = +svg.getAttribute("data-width"), H = +svg.getAttribute("data-height");
  var z = 1;

  function setZoom(next, cx, cy) {
    next = Math.min(4, Math.max(0.05, next));
    if (cx === undefined) { cx = scroller.clientWidth / 2; cy = scroller.clientHeight / 2; }
    var top = header.offsetHeight;
    var ux = (scroller.scrollLeft + cx) / z, uy = (scroller.scrollTop + cy - top) / z;
    z = next;
    // A transform, not new width/height: the browser then re-rasterises what is on
    // screen instead of laying out 10,000+ SVG nodes again (50 ms instead of 500).
    canvas.style.width = (W * z).toFixed(1) + "px";
    canvas.style.height = (H * z).toFixed(1) + "px";
    svg.style.transform = "scale(" + z + ")";
    // Only the header reads --z: set on the scroller it would restyle every SVG node.
    header.style.setProperty("--z", String(z));
    if (svg.classList.contains("small") !== (z < 0.6)) { svg.classList.toggle("small"); }
    scroller.scrollLeft = ux * z - cx;
    scroller.scrollTop = uy * z + top - cy;
    level.textContent = Math.round(z * 100) + "%";
  }
  document.getElementById("zoom-in").addEventListener("click", function () { setZoom(z * 1.25); });
  document.getElementById("zoom-out").addEventListener("click", function () { setZoom(z / 1.25); });
  document.getElementById("zoom-reset").addEventListener("click", function () { setZoom(1); });
  document.getElementById("zoom-fit").addEventListener("click", function () {
    setZoom(Math.min(2, scroller.clientWidth / W), 0, 0);
  });
  // Wheel events come faster than frames: add them up and zoom once per frame.
  var wheel = null;
  scroller.addEventListener("wheel", function (ev) {
    if (!ev.ctrlKey && !ev.metaKey) { return; }
    ev.preventDefault();
    var box = scroller.getBoundingClientRect();
    if (wheel === null) {
      wheel = { dy: 0, x: 0, y: 0 };
      requestAnimationFrame(function () {
        var w = wheel;
        wheel = null;
        setZoom(z * Math.exp(-w.dy * 0.0015), w.x, w.y);
      });
    }
    wheel.dy += ev.deltaY;
    wheel.x = ev.clientX - box.left;
    wheel.y = ev.clientY - box.top;
  }, { passive: false });
  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
    if (ev.key === "+" || ev.key === "=") { setZoom(z * 1.25); }
    else if (ev.key === "-") { setZoom(z / 1.25); }
    else if (ev.key === "0") { setZoom(1); }
  });

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }
  function row(dl, name, value) {
    dl.appendChild(el("dt", "", name));
    dl.appendChild(el("dd", "", value));
  }
  function show(i) {
    var e = data.events[i], host = data.hosts[e[0]], kind = e[1], label = e[2];
    var details = e[5] || {};
    body.textContent = "";
    var head = el("div", "head");
    var swatch = el("span", "swatch " + data.colours[e[0]]);
    head.appendChild(swatch);
    head.appendChild(document.createTextNode(host + " \\u00b7 " + kind));
    body.appendChild(head);
    var dl = el("dl");
    if (label !== null) {
      row(dl, "message", label);
      if (Object.prototype.hasOwnProperty.call(data.texts, label)) {
        row(dl, "text", "\\u201c" + data.texts[label] + "\\u201d");
      }
    }
    if (details.waits) { row(dl, "waits for", details.waits.join(", ") || "\\u2014"); }
    if (details.recipients) { row(dl, "to", details.recipients.join(", ") || "nobody"); }
    if (details.released !== undefined) {
      row(dl, "released", details.released ? "yes, it had been held" : "no, at once");
    }
    if (details.reason !== undefined) { row(dl, "reason", String(details.reason)); }
    if (details.members) { row(dl, "members", details.members.join(", ")); }
    if (details.vc) {
      // The log's "vc" detail is the message's clock, except on deliver (the
      // client's clock after delivering) and join (the group's clock at joining).
      var vcName = { deliver: "clock after", join: "group vc" }[kind] || "message vc";
      row(dl, vcName, JSON.stringify(details.vc));
    }
    row(dl, "event", "#" + (e[4][e[0]] || 0) + " on " + host);
    row(dl, "logged at", e[3].slice(11).replace("Z", " UTC"));
    body.appendChild(dl);
    var table = el("table", "clock");
    table.setAttribute("aria-label", "vector clock");
    var caption = el("caption", "", "vector clock");
    caption.style.textAlign = "left";
    caption.style.color = "var(--muted)";
    table.appendChild(caption);
    var parts = [];
    e[4].forEach(function (value, k) {
      if (!value) { return; }
      var tr = el("tr", data.keys[k] === host ? "own" : "");
      tr.appendChild(el("td", "", data.keys[k]));
      tr.appendChild(el("td", "", String(value)));
      table.appendChild(tr);
      parts.push(data.keys[k] + ": " + value);
    });
    body.appendChild(table);
    body.setAttribute("data-clock", "{" + parts.join(", ") + "}");
  }

  var lit = [];
  function clear() {
    lit.forEach(function (node) { node.classList.remove("hl", "sel"); });
    lit = [];
    svg.classList.remove("focus");
  }
  function select(node) {
    clear();
    node.classList.add("sel");
    lit.push(node);
    var m = node.getAttribute("data-m");
    if (m !== null) {
      svg.querySelectorAll('[data-m="' + m + '"]').forEach(function (a) {
        a.classList.add("hl");
        lit.push(a);
      });
      svg.classList.add("focus");
    }
    show(+node.getAttribute("data-i"));
  }
  function eventOf(target) {
    return target && target.closest ? target.closest(".ev") : null;
  }
  svg.addEventListener("mouseover", function (ev) {
    var node = eventOf(ev.target);
    if (node) { select(node); }
  });
  svg.addEventListener("mouseout", function (ev) {
    if (eventOf(ev.target) && !eventOf(ev.relatedTarget)) { clear(); }
  });
  svg.addEventListener("focusin", function (ev) {
    var node = eventOf(ev.target);
    if (node) { select(node); }
  });
  svg.addEventListener("focusout", clear);
})();
"""
