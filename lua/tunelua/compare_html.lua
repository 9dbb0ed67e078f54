-- compare.html: one self-contained page (no network) with the best-so-far curves of every
-- method against budget (median line, band over repeats), the target, and the tables. The
-- data is compare.json itself, embedded; the drawing is the small SVG code below.
-- luacheck: no max line length (the page's JavaScript below is data)
local M = {}

local function esc(s)
  return (tostring(s):gsub("[&<>\"]", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;",
    ['"'] = "&quot;" }))
end

local page = [==[<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>tunelua compare: %TITLE%</title>
<style>
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 18px 24px;
  color: #1d1d1f; background: #fff; }
h1 { font-size: 19px; margin: 0 0 2px; }
.sub { color: #555; margin-bottom: 10px; }
.controls { margin: 6px 0 4px; color: #333; }
.controls label { margin-right: 16px; }
svg text { font: 12px system-ui, sans-serif; fill: #333; }
svg .grid { stroke: #e6e6e6; }
svg .axis { stroke: #888; }
table { border-collapse: collapse; margin-top: 8px; }
th, td { padding: 3px 10px; text-align: right; border-bottom: 1px solid #eee; }
th { background: #f5f5f7; font-weight: 600; vertical-align: bottom; }
td { white-space: nowrap; }
td:first-child, th:first-child { text-align: left; }
.sw { display: inline-block; width: 12px; height: 12px; border-radius: 2px;
  vertical-align: -1px; margin-right: 6px; }
#tip { position: absolute; pointer-events: none; background: rgba(255,255,255,.95);
  border: 1px solid #ccc; border-radius: 4px; padding: 4px 8px; font-size: 12px;
  display: none; white-space: nowrap; }
details { margin-top: 12px; }
.bad { color: #b00020; }
</style></head><body>
<h1 id="title"></h1>
<div class="sub" id="sub"></div>
<div class="controls">
  <label>x axis <select id="axis"><option value="results">trial-iterations</option>
    <option value="time">time</option></select></label>
  <label><input type="checkbox" id="logx" checked> log x</label>
  <label><input type="checkbox" id="logy"> log y</label>
  <label>band <select id="band"><option value="q">quartiles (25-75%)</option>
    <option value="m">min-max</option><option value="n">none</option></select></label>
</div>
<div style="position:relative"><svg id="chart" width="1100" height="540"></svg><div id="tip"></div></div>
<table id="methods"></table>
<details><summary>every run</summary><table id="runs"></table></details>
<script type="application/json" id="data">%DATA%</script>
<script>
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("data").textContent);
  var COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
    "#17becf", "#7f7f7f", "#bcbd22"];
  var NS = "http://www.w3.org/2000/svg";
  var svg = document.getElementById("chart"), tip = document.getElementById("tip");
  var W = 1100, H = 540, M = { l: 78, r: 250, t: 16, b: 48 };
  var min = D.mode === "min";
  function fmt(v, p) {
    if (v === null || v === undefined || v === false) return "-";
    if (typeof v !== "number") return String(v);
    var a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(2);
    return String(+v.toPrecision(p || 4));
  }
  function el(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    (parent || svg).appendChild(e);
    return e;
  }
  function text(x, y, s, attrs) {
    var t = el("text", Object.assign({ x: x, y: y }, attrs || {}));
    t.textContent = s;
    return t;
  }
  document.getElementById("title").textContent = (D.name || D.experiment) + ": best " +
    D.metric + " so far (" + (min ? "lower" : "higher") + " is better)";
  var b = D.budget ? (D.budget.results ? D.budget.results + " results" : D.budget.time + " s")
    : "none";
  document.getElementById("sub").textContent = D.experiment + " \u00b7 median over " +
    D["repeat"] + " repeats (seeds " + D.seed + "-" + (D.seed + D["repeat"] - 1) + ") \u00b7 executor " +
    D.executor + " \u00b7 budget " + b + " \u00b7 target " + fmt(D.target, 6) + " (" +
    D.target_rule + ")";
  if (D.budget && D.budget.time) document.getElementById("axis").value = "time";

  function ticksLin(lo, hi) {
    var span = hi - lo || Math.abs(hi) || 1, step = Math.pow(10, Math.floor(Math.log10(span / 6)));
    var err = span / 6 / step;
    step *= err >= 5 ? 5 : err >= 2 ? 2 : 1;
    var out = [];
    for (var v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
    return out;
  }
  function ticksLog(lo, hi) {
    var out = [], a = Math.floor(Math.log10(lo)), z = Math.ceil(Math.log10(hi));
    var span = Math.log10(hi / lo), mults = span > 4 ? [1] : span > 2 ? [1, 3] : [1, 2, 5];
    for (var e = a; e <= z; e++) mults.forEach(function (m) {
      var v = m * Math.pow(10, e);
      if (v >= lo * 0.999 && v <= hi * 1.001) out.push(+v.toPrecision(6));
    });
    return out;
  }
  function draw() {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var axis = document.getElementById("axis").value;
    var logx = document.getElementById("logx").checked, logy = document.getElementById("logy").checked;
    var band = document.getElementById("band").value;
    var series = [];
    D.methods.forEach(function (m, i) {
      if (!m.curve) return;
      var c = m.curve[axis];
      if (!c || !c.x.length) return;
      series.push({ m: m, c: c, color: COLORS[i % COLORS.length] });
    });
    var xs = [], ys = [];
    series.forEach(function (s) {
      s.c.x.forEach(function (x, j) {
        xs.push(x);
        ys.push(s.c.median[j]);
        if (band === "q") { ys.push(s.c.lo[j]); ys.push(s.c.hi[j]); }
        if (band === "m") { ys.push(s.c.min[j]); ys.push(s.c.max[j]); }
      });
    });
    if (D.target !== null && D.target !== undefined) ys.push(D.target);
    if (!xs.length) { text(M.l, 40, "no run produced a result"); return; }
    var xlo = Math.min.apply(null, xs), xhi = Math.max.apply(null, xs);
    if (logx) { var pos = xs.filter(function (x) { return x > 0; }); xlo = Math.min.apply(null, pos); }
    var ylo = Math.min.apply(null, ys), yhi = Math.max.apply(null, ys);
    if (logy && ylo <= 0) logy = false;
    if (xhi <= xlo) xhi = xlo + 1;
    if (yhi <= ylo) { yhi = ylo + (Math.abs(ylo) || 1) * 0.1; ylo -= (Math.abs(ylo) || 1) * 0.1; }
    var fx = logx ? function (x) { return Math.log10(Math.max(x, xlo)); } : function (x) { return x; };
    var fy = logy ? function (y) { return Math.log10(y); } : function (y) { return y; };
    var pad = (fy(yhi) - fy(ylo)) * 0.04;
    var X0 = fx(xlo), X1 = fx(xhi), Y0 = fy(ylo) - pad, Y1 = fy(yhi) + pad;
    var pw = W - M.l - M.r, ph = H - M.t - M.b;
    function sx(x) { return M.l + (fx(x) - X0) / (X1 - X0) * pw; }
    function sy(y) { return M.t + ph - (fy(y) - Y0) / (Y1 - Y0) * ph; }
    var xt = logx ? ticksLog(xlo, xhi) : ticksLin(xlo, xhi);
    var yt = logy ? ticksLog(Math.pow(10, Y0), Math.pow(10, Y1)) : ticksLin(Y0, Y1);
    xt.forEach(function (v) {
      el("line", { x1: sx(v), x2: sx(v), y1: M.t, y2: M.t + ph, "class": "grid" });
      text(sx(v), M.t + ph + 16, fmt(v), { "text-anchor": "middle" });
    });
    yt.forEach(function (v) {
      if (sy(v) < M.t - 1 || sy(v) > M.t + ph + 1) return;
      el("line", { x1: M.l, x2: M.l + pw, y1: sy(v), y2: sy(v), "class": "grid" });
      text(M.l - 6, sy(v) + 4, fmt(v), { "text-anchor": "end" });
    });
    el("rect", { x: M.l, y: M.t, width: pw, height: ph, fill: "none", "class": "axis" });
    var unit = D.executor === "simulate" ? "virtual seconds" : "seconds";
    text(M.l + pw / 2, H - 8, axis === "results" ? "trial-iterations (results) used" : "time (" + unit + ")",
      { "text-anchor": "middle", "font-weight": "600" });
    var yl = text(0, 0, "best " + D.metric + " so far", { "text-anchor": "middle", "font-weight": "600",
      transform: "translate(16," + (M.t + ph / 2) + ") rotate(-90)" });
    yl.setAttribute("x", 0);
    var clip = el("clipPath", { id: "plotclip" });
    el("rect", { x: M.l, y: M.t, width: pw, height: ph }, clip);
    var g = el("g", { "clip-path": "url(#plotclip)" });
    function stepPath(x, y) {
      var d = "M" + sx(x[0]).toFixed(1) + "," + sy(y[0]).toFixed(1);
      for (var j = 1; j < x.length; j++) d += "H" + sx(x[j]).toFixed(1) + "V" + sy(y[j]).toFixed(1);
      return d;
    }
    series.forEach(function (s) {
      if (band === "n") return;
      var lo = band === "q" ? s.c.lo : s.c.min, hi = band === "q" ? s.c.hi : s.c.max, x = s.c.x;
      var d = stepPath(x, hi);
      for (var j = x.length - 1; j >= 0; j--) {
        d += "H" + sx(x[j]).toFixed(1) + "V" + sy(lo[j]).toFixed(1);
        if (j > 0) d += "H" + sx(x[j]).toFixed(1) + "V" + sy(lo[j - 1]).toFixed(1);
      }
      el("path", { d: d + "Z", fill: s.color, "fill-opacity": 0.13, stroke: "none" }, g);
    });
    if (D.target !== null && D.target !== undefined) {
      el("line", { x1: M.l, x2: M.l + pw, y1: sy(D.target), y2: sy(D.target), stroke: "#444",
        "stroke-dasharray": "5,4", "stroke-width": 1 }, g);
      text(M.l + 6, sy(D.target) - 5, "target " + fmt(D.target, 5), { fill: "#444" });
    }
    series.forEach(function (s) {
      el("path", { d: stepPath(s.c.x, s.c.median), fill: "none", stroke: s.color, "stroke-width": 2.2 }, g);
      var n = s.c.x.length - 1;
      el("circle", { cx: sx(s.c.x[n]), cy: sy(s.c.median[n]), r: 3.5, fill: s.color }, g);
    });
    // legend, ordered by median best
    var order = series.slice().sort(function (a, b2) {
      return (min ? 1 : -1) * (a.m.best_median - b2.m.best_median);
    });
    var lx = M.l + pw + 18, ly = M.t + 8;
    text(lx, ly + 4, "median best (" + D.metric + ")", { "font-weight": "600" });
    order.forEach(function (s, i) {
      var y = ly + 24 + i * 22;
      el("rect", { x: lx, y: y - 9, width: 14, height: 10, fill: s.color, rx: 2 });
      text(lx + 20, y, s.m.label);
      text(W - 8, y, fmt(s.m.best_median), { "text-anchor": "end" });
    });
    text(lx, ly + 24 + order.length * 22 + 8, "line: median over repeats", { fill: "#666" });
    text(lx, ly + 24 + order.length * 22 + 24, band === "q" ? "band: 25th-75th percentile" :
      band === "m" ? "band: min-max" : "", { fill: "#666" });
    text(lx, ly + 24 + order.length * 22 + 40, "dot: where half the runs ended", { fill: "#666" });
    // hover: each method's median at the x under the pointer
    var cross = el("line", { y1: M.t, y2: M.t + ph, stroke: "#999", "stroke-width": 1, visibility: "hidden" });
    var hit = el("rect", { x: M.l, y: M.t, width: pw, height: ph, fill: "transparent" });
    hit.addEventListener("mousemove", function (ev) {
      var r = svg.getBoundingClientRect(), px = ev.clientX - r.left;
      var v = X0 + (px - M.l) / pw * (X1 - X0), x = logx ? Math.pow(10, v) : v;
      cross.setAttribute("x1", px); cross.setAttribute("x2", px); cross.setAttribute("visibility", "visible");
      var lines = ["<b>" + (axis === "results" ? "iterations " : "time ") + fmt(x) + "</b>"];
      order.forEach(function (s) {
        var j = -1;
        for (var k = 0; k < s.c.x.length && s.c.x[k] <= x; k++) j = k;
        if (j >= 0) lines.push('<span class="sw" style="background:' + s.color + '"></span>' +
          s.m.label + ": " + fmt(s.c.median[j]));
      });
      tip.innerHTML = lines.join("<br>");
      tip.style.display = "block";
      tip.style.left = (px + 14) + "px";
      tip.style.top = (ev.clientY - r.top + 10) + "px";
    });
    hit.addEventListener("mouseleave", function () {
      tip.style.display = "none"; cross.setAttribute("visibility", "hidden");
    });
  }
  function table(id, head, rows) {
    var t = document.getElementById(id), h = "<tr>" + head.map(function (c) {
      return "<th>" + c + "</th>"; }).join("") + "</tr>";
    rows.forEach(function (r) { h += "<tr>" + r.map(function (c) { return "<td>" + c + "</td>"; }).join("") + "</tr>"; });
    t.innerHTML = h;
  }
  function esc(s) { return String(s).replace(/[&<>"]/g, function (c) {
    return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]; }); }
  table("methods", ["method", "runs", "best " + esc(D.metric) + "<br>mean \u00b1 sd", "median",
    "best@" + D.common_results, "iters to target", "time to target", "reached", "iters used", "trials", "wall s"],
    D.methods.map(function (m, i) {
      return ['<span class="sw" style="background:' + COLORS[i % COLORS.length] + '"></span>' + esc(m.label),
        m.runs_ok + "/" + m.runs, fmt(m.best_mean) + " \u00b1 " + fmt(m.best_sd, 2), fmt(m.best_median),
        fmt(m.best_at_common_mean), fmt(m.iters_to_target), fmt(m.time_to_target), m.reached + "/" + m.runs_ok,
        fmt(m.iters_used, 5), fmt(m.trials, 3), fmt(m.wall_s, 3)];
    }));
  table("runs", ["run", "seed", "exit", "best", "iters to target", "results", "trials", "wall s", "error"],
    D.runs.map(function (r) {
      return ['<a href="' + esc(r.dir) + '/">' + esc(r.label) + "</a>", r.seed, r.exit, fmt(r.best),
        fmt(r.iters_to_target), fmt(r.results), fmt(r.trials), fmt(r.wall_s, 3),
        r.error ? '<span class="bad">' + esc(r.error) + "</span>" : ""];
    }));
  ["axis", "logx", "logy", "band"].forEach(function (id) {
    document.getElementById(id).addEventListener("change", draw);
  });
  var all = [];
  D.methods.forEach(function (m) { if (m.curve) all = all.concat(m.curve.results.median); });
  var pos = all.filter(function (v) { return v > 0; });
  if (pos.length === all.length && pos.length &&
      Math.max.apply(null, pos) / Math.min.apply(null, pos) > 5) document.getElementById("logy").checked = true;
  draw();
})();
</script>
</body></html>
]==]

function M.page(data, study)
  local title = esc((study.name or study.experiment) .. " (" .. study.metric .. ")")
  local out = page:gsub("%%TITLE%%", function() return title end)
  out = out:gsub("%%DATA%%", function() return data end)
  return out
end


return M
