// Draws each <div class="chart" data-chart="ID"> from the JSON in <script id="ID">: {series: [{label, values}],
// times, thresholds: [{label, value}]}. Values are numbers or null (a gap, never drawn as 0).
(function () {
  "use strict";
  var colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"];
  function draw(el) {
    var source = document.getElementById(el.getAttribute("data-chart"));
    if (!source || typeof uPlot === "undefined") { return; }
    var spec = JSON.parse(source.textContent);
    if (!spec.times.length) { return; }
    var data = [spec.times];
    var series = [{}];
    spec.series.forEach(function (s, i) {
      data.push(s.values);
      series.push({label: s.label, stroke: colours[i % colours.length], width: 1.5, spanGaps: false,
                   points: {show: true, size: 3}});
    });
    (spec.thresholds || []).forEach(function (t) {
      data.push(spec.times.map(function () { return t.value; }));
      series.push({label: t.label, stroke: "#888", dash: [6, 4], width: 1});
    });
    var width = Math.max(320, Math.min(1100, el.clientWidth || 900));
    var axes = [{}, spec.percent ? {size: 70, values: function (u, ticks) {
      return ticks.map(function (v) { return (v * 100).toPrecision(4) + "%"; });
    }} : {size: 60}];
    var plot = new uPlot({width: width, height: 240, series: series, axes: axes, scales: {x: {time: true}}},
                         data, el);
    el.setAttribute("data-rendered", String(spec.times.length));
    el.setAttribute("data-series", String(plot.series.length - 1));
  }
  function all() { Array.prototype.forEach.call(document.querySelectorAll("div.chart[data-chart]"), draw); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", all); } else { all(); }
}());
