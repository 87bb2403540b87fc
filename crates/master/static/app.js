// AtlHyper dashboard: draws the charts and the topology described by the page's JSON
// (<script type="application/json" id="page-data">). Pages work without it; it only adds
// pictures. No inline script anywhere, so the CSP can forbid it.
(function () {
  "use strict";

  var COLORS = ["#2f6fd0", "#2e9d6a", "#d68a1f", "#8e5bd0", "#d64545", "#1fa3b5", "#6b7a90", "#c2549d"];
  var HEALTH = { healthy: "#2e9d6a", warning: "#d68a1f", critical: "#d64545", neutral: "#8a97a8" };

  function pageData() {
    var el = document.getElementById("page-data");
    if (!el) return null;
    try { return JSON.parse(el.textContent); } catch (e) { return null; }
  }

  function formatValue(unit, v) {
    if (v === null || v === undefined || isNaN(v)) return "—";
    if (unit === "%") return v.toFixed(v >= 99 && v < 100 ? 2 : 1) + "%";
    if (unit === "ms") return v >= 1000 ? (v / 1000).toFixed(2) + " s" : v.toFixed(v >= 10 ? 0 : 1) + " ms";
    if (unit === "B/s") {
      var units = ["B/s", "KiB/s", "MiB/s", "GiB/s"], i = 0;
      while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++; }
      return v.toFixed(i ? 1 : 0) + " " + units[i];
    }
    if (unit === "rps") return v >= 1000 ? (v / 1000).toFixed(1) + "k" : v.toFixed(v >= 10 ? 1 : 2);
    return Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2);
  }

  function chartOption(c) {
    var base = {
      color: COLORS,
      title: { text: c.title, left: 0, top: 0, textStyle: { fontSize: 13, fontWeight: 600, color: "#1d2733" } },
      tooltip: { trigger: c.type === "pie" ? "item" : "axis", confine: true },
      grid: { left: 8, right: 16, top: 44, bottom: 8, containLabel: true },
      animation: false
    };
    if (c.type === "pie") {
      base.legend = { bottom: 0 };
      base.series = [{ type: "pie", radius: ["45%", "70%"], center: ["50%", "52%"], data: c.series[0].data,
        label: { formatter: "{b}: {d}%" } }];
      return base;
    }
    var valueAxis = { type: "value", axisLabel: { formatter: function (v) { return formatValue(c.unit, v); } },
      splitLine: { lineStyle: { color: "#eef1f5" } } };
    if (c.unit === "%" && c.el !== "chart-budget" && c.el !== "chart-success") { valueAxis.max = 100; valueAxis.min = 0; }
    if (c.el === "chart-success") { valueAxis.scale = true; }
    base.yAxis = valueAxis;
    base.tooltip.valueFormatter = function (v) { return formatValue(c.unit, v); };
    if (c.type === "bar") {
      base.xAxis = { type: "category", data: c.categories, axisLabel: { rotate: 40, fontSize: 10 } };
      base.series = [{ type: "bar", name: c.series[0].name, data: c.series[0].data, itemStyle: { color: "#2f6fd0" } }];
      return base;
    }
    base.xAxis = { type: "time" };
    if (c.series.length > 1) { base.legend = { top: 0, right: 0, type: "scroll", width: "60%" }; }
    base.series = c.series.map(function (s) {
      return { type: "line", name: s.name, data: s.data, showSymbol: false, connectNulls: false,
        lineStyle: s.dashed ? { type: "dashed", width: 1 } : { width: 2 },
        areaStyle: c.series.length === 1 ? { opacity: 0.08 } : undefined };
    });
    return base;
  }

  function points(c) {
    return c.series.reduce(function (n, s) { return n + (s.data ? s.data.length : 0); }, 0);
  }

  function drawCharts(data) {
    if (!data.charts || !window.echarts) return;
    var locale = document.body.getAttribute("data-chart-locale") || "EN";
    var instances = [];
    data.charts.forEach(function (c) {
      var el = document.getElementById(c.el);
      if (!el) return;
      var chart = window.echarts.init(el, null, { locale: locale, renderer: "canvas" });
      chart.setOption(chartOption(c));
      el.setAttribute("data-chart-ready", "1");
      el.setAttribute("data-points", String(points(c)));
      instances.push(chart);
    });
    window.addEventListener("resize", function () { instances.forEach(function (i) { i.resize(); }); });
    window.atlhyperCharts = instances.length;
  }

  function drawGraph(g) {
    var el = document.getElementById(g.el);
    if (!el || !window.cytoscape) return;
    var elements = g.nodes.map(function (n) {
      return { data: { id: n.id, label: n.label, kind: n.kind, color: HEALTH[n.health] || HEALTH.neutral } };
    }).concat(g.edges.map(function (e, i) {
      return { data: { id: "e" + i, source: e.source, target: e.target, label: e.label,
        color: HEALTH[e.health] || HEALTH.neutral, href: e.href } };
    }));
    var cy = window.cytoscape({
      container: el, elements: elements, wheelSensitivity: 0.3,
      layout: { name: "breadthfirst", directed: true, spacingFactor: 1.15, padding: 24 },
      style: [
        { selector: "node", style: { "background-color": "data(color)", label: "data(label)", color: "#1d2733",
          "font-size": 12, "text-valign": "bottom", "text-margin-y": 6, width: 30, height: 30,
          "border-width": 3, "border-color": "#fff" } },
        { selector: "node[kind = 'ingress']", style: { shape: "round-rectangle", width: 40, height: 24 } },
        { selector: "edge", style: { width: 2.5, "line-color": "data(color)", "target-arrow-color": "data(color)",
          "target-arrow-shape": "triangle", "curve-style": "bezier", label: "data(label)", "font-size": 10,
          color: "#4a5a6e", "text-rotation": "autorotate", "text-background-color": "#fff",
          "text-background-opacity": 0.85, "text-background-padding": 2 } },
        { selector: "edge:selected, node:selected", style: { "overlay-opacity": 0.12 } }
      ]
    });
    cy.on("tap", "edge", function (ev) {
      var href = ev.target.data("href");
      if (href) window.location.href = href;
    });
    cy.on("tap", "node", function (ev) {
      var out = ev.target.connectedEdges().filter(function (e) { return e.data("target") === ev.target.id(); });
      if (out.length) window.location.href = out[0].data("href");
    });
    el.setAttribute("data-graph-ready", "1");
    el.setAttribute("data-nodes", String(g.nodes.length));
    el.setAttribute("data-edges", String(g.edges.length));
    window.atlhyperGraph = cy;
  }

  function autoSubmit() {
    Array.prototype.forEach.call(document.querySelectorAll("select.auto-submit"), function (s) {
      s.addEventListener("change", function () { if (s.form) s.form.submit(); });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var data = pageData();
    if (data) {
      drawCharts(data);
      if (data.graph) drawGraph(data.graph);
    }
    autoSubmit();
  });
})();
