/**
 * ReportData → one self-contained HTML file: styles, Chart.js, the data and the drawing script are
 * all inline, so the file opens from disk with no network (no CDN, no fonts, no images).
 *
 * Chart library: Chart.js 4 (chart.umd.js, about 210 kB): widely used and actively maintained (MIT),
 * a single UMD file with no dependencies that inlines as is, and draws on <canvas>, so thousands of
 * points stay light and nothing is fetched at view time.
 *
 * Everything from a file (model, layer and stage names, notes, ARNs) is escaped: text through
 * escapeHtml, the data through jsonForScript (no "</script>" or "<!--" can end the script early).
 */
import {readFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {dirname, join} from 'node:path'

import {num, STAGE_COLUMNS, stageCells, usd} from '../plan/render.js'
import type {ReportData} from './data.js'

export function escapeHtml(text: unknown): string {
  return String(text).replace(/[&<>"']/g, (c) => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'})[c]!)
}

/** JSON that is safe inside <script type="application/json">: "<", U+2028/9 escaped. */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029')
}

let chartJs: string | undefined
/** Chart.js's UMD build, read once, its source-map comment removed (nothing to fetch). */
export function chartJsSource(): string {
  if (chartJs === undefined) {
    const require = createRequire(import.meta.url)
    const dir = dirname(require.resolve('chart.js'))
    chartJs = readFileSync(join(dir, 'chart.umd.js'), 'utf8').replace(/\/\/# sourceMappingURL=.*$/m, '')
    if (/<\/script/i.test(chartJs)) throw new Error('chart.umd.js contains "</script": it cannot be inlined as is')
  }
  return chartJs
}

const mb = (bytes: number): string => num(bytes / 1048576, 1)

function table(header: string[], rows: string[][]): string {
  const th = header.map((h) => `<th>${escapeHtml(h)}</th>`).join('')
  const body = rows.map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`).join('\n')
  return `<table><thead><tr>${th}</tr></thead><tbody>${body}</tbody></table>`
}

function section(id: string, title: string, intro: string, inner: string): string {
  return `<section id="${id}"><h2>${escapeHtml(title)}</h2><p class="intro">${escapeHtml(intro)}</p>${inner}</section>`
}

function canvas(id: string, label: string): string {
  return `<div class="chart"><canvas id="${id}" role="img" aria-label="${escapeHtml(label)}"></canvas></div>`
}

export function renderReportHtml(data: ReportData): string {
  const {plan} = data
  const inp = plan.inputs
  const pct = inp.percentile === 100 ? 'max' : `p${inp.percentile}`
  const p = plan.predicted
  const headline = [
    ['cost per 1M requests', usd(p.costPerMillionUsd)],
    [`latency (${pct})`, `${num(p.latencyMs, 1)} ms of ${num(inp.sloMs)} ms`],
    ['stages', String(plan.stages.length)],
    ['batch', plan.batch.size > 1 ? `up to ${plan.batch.size}, ${num(plan.batch.timeoutMs)} ms` : 'none'],
    ['per month', inp.ratePerSecond > 0 ? usd(p.monthlyCostUsd) : '—'],
  ]
  const parts: string[] = []
  parts.push(`<header><h1>amps report: ${escapeHtml(plan.model.name)}</h1>
<p class="sub">SLO ${escapeHtml(num(inp.sloMs))} ms at ${escapeHtml(pct)}, ${escapeHtml(inp.ratePerSecond > 0 ? `${num(inp.ratePerSecond, 2)} req/s` : 'no rate given')}, arch ${escapeHtml(inp.arch)}, ${escapeHtml(inp.region)}, prices ${escapeHtml(inp.priceTableVersion)}; plan made ${escapeHtml(plan.createdAt)}, report ${escapeHtml(data.generatedAt)}</p>
<div class="tiles">${headline.map(([k, v]) => `<div class="tile"><div class="k">${escapeHtml(k)}</div><div class="v">${escapeHtml(v)}</div></div>`).join('')}</div></header>`)

  if (data.frontier) {
    parts.push(
      section(
        'frontier',
        'Cost against the latency SLO',
        `The plan's own problem (same profile, rate, percentile, architectures and stage limits) solved again by the planner at ${data.frontier.points.length} SLOs; each baseline held to the same SLO. The large point is the chosen plan. A gap: no plan meets that SLO.`,
        canvas('chart-frontier', 'cost per 1M requests against the SLO'),
      ),
    )
  }
  if (data.powerTuning) {
    parts.push(
      section(
        'power-tuning',
        'Time and cost against memory, per stage',
        `As AWS Lambda Power Tuning draws it, from amps' cost model: handler ms of one full batch (${plan.batch.size}) and its cost per 1M requests at each memory size. The ringed points are the memory the plan chose.`,
        data.powerTuning
          .map((s, i) => `<h3>${escapeHtml(s.name)} (${escapeHtml(s.arch)})</h3>${canvas(`chart-power-${i}`, `${s.name}: time and cost against memory`)}`)
          .join('\n'),
      ),
    )
  }
  parts.push(
    section(
      'timeline',
      'One batch through the chain',
      `Wait in the batch buffer (the ${pct} wait), then per stage: invoke (the Invoke round trip, client transfers and the per-call overhead), compute (the layers), hand-off (tensor encoding and decoding, S3 transfers). ${data.timeline.source === 'profile' ? 'From the cost model on the profile.' : "From the plan's predicted ms (no profile)."} Total ${num(data.timeline.totalMs, 1)} ms at median stage times.`,
      canvas('chart-timeline', 'timeline of one batch'),
    ),
  )
  if (data.simulation) {
    const s = data.simulation
    parts.push(
      section(
        'latency',
        'Latency distribution (simulated)',
        `${num(s.arrivals.requests)} requests (${s.arrivals.process}, ${num(s.arrivals.ratePerSecond, 2)} req/s over ${num(s.arrivals.durationS)} s, seed ${s.seed}) through amps simulate: p50 ${num(s.latencyMs.p50, 1)} ms, p99 ${num(s.latencyMs.p99, 1)} ms, ${num(s.slo.missRate * 100, 3)} % over the SLO line; ${usd(s.cost.perMillionUsd)} per 1M requests.${s.latencyHistogram && s.latencyHistogram.overflow > 0 ? ` ${num(s.latencyHistogram.overflow)} requests slower than ${num(s.latencyHistogram.fromMs + s.latencyHistogram.binMs * s.latencyHistogram.counts.length)} ms (cold starts) are counted but not drawn.` : ''}`,
        canvas('chart-latency', 'simulated latency histogram with the SLO'),
      ),
    )
  }

  const stageRows = plan.stages.map((s) => stageCells(s))
  const baseRows = plan.baselines.map((b) => [
    b.name,
    b.feasible ? `${num(b.latencyMs, 1)} ms` : '—',
    b.feasible ? usd(b.costPerMillionUsd) : '—',
    b.costRatio === undefined ? '—' : `${num(b.costRatio, 2)}×`,
    b.feasible ? (b.stages ?? []).map((s) => `${s.memoryMb} MB`).join(' + ') : (b.reason ?? 'infeasible'),
  ])
  let tables = `<h3>Stages</h3>${table([...STAGE_COLUMNS], stageRows)}
<h3>Baselines</h3>${table(['baseline', 'latency', 'per 1M', 'vs plan', 'memory'], [['plan', `${num(p.latencyMs, 1)} ms`, usd(p.costPerMillionUsd), '1.00×', plan.stages.map((s) => `${s.memoryMb} MB`).join(' + ')], ...baseRows])}
<h3>Prediction</h3>${table(
    ['figure', 'value'],
    [
      [`latency (${pct})`, `${num(p.latencyMs, 1)} ms`],
      ['chain at median stage times', `${num(p.serviceMs, 1)} ms`],
      ['mean batch size', num(p.meanBatchSize, 2)],
      ['cold start through the chain', `${num(p.coldStartMs)} ms`],
      ['cold-start probability per batch', `${num(p.coldStartProbability * 100, 3)} %`],
      ['INIT per 1M requests (not in the cost above)', p.initPerMillionUsd === undefined ? '—' : usd(p.initPerMillionUsd)],
      ['solver', `${plan.solver.method}, ${plan.solver.optimal ? 'optimal' : 'not proven optimal'}, ${num(plan.solver.solveMs)} ms`],
    ],
  )}`
  if (data.deployment) {
    const d = data.deployment
    tables += `<h3>Deployment (${escapeHtml(d.target)}, ${escapeHtml(d.region)})</h3>${table(
      ['stage', 'function', 'status', 'ARN / endpoint', 'zip'],
      d.stages.map((s) => [s.name, s.functionName, s.status, s.arn ?? '—', s.zipBytes === undefined ? '—' : `${mb(s.zipBytes)} MB`]),
    )}`
  }
  parts.push(section('tables', 'The plan', `From plan.json (model sha256 ${plan.model.sha256.slice(0, 12)}…).`, tables))

  const notes = [...(plan.warnings ?? []), ...data.notes]
  if (!data.profile.used) notes.push(data.profile.note ?? 'no profile: the frontier and the Power-Tuning charts need the profile the plan was made from')
  if (notes.length > 0)
    parts.push(section('notes', 'Notes', 'Assumptions and what is missing.', `<ul>${notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul>`))

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<title>amps report: ${escapeHtml(plan.model.name)}</title>
<style>${CSS}</style>
</head>
<body>
${parts.join('\n')}
<footer>Written by amps. Self-contained: scripts (Chart.js ${escapeHtml(CHART_JS_LICENSE)}) and data are inline; nothing is fetched.</footer>
<script type="application/json" id="amps-data">${jsonForScript(data)}</script>
<script>${chartJsSource()}</script>
<script>${CLIENT}</script>
</body>
</html>
`
}

const CHART_JS_LICENSE = 'v4, MIT'

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330;background:#fff;margin:0 auto;max-width:1100px;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 4px;border-bottom:1px solid #e3e6ec;padding-bottom:4px}h3{font-size:15px;margin:16px 0 6px}
.sub,.intro{color:#5a6272;margin:4px 0 10px}
.tiles{display:flex;gap:12px;flex-wrap:wrap;margin-top:12px}.tile{border:1px solid #e3e6ec;border-radius:8px;padding:8px 14px;min-width:130px}
.tile .k{color:#5a6272;font-size:12px}.tile .v{font-size:20px;font-weight:600}
.chart{position:relative;height:320px;margin:6px 0 12px}
table{border-collapse:collapse;margin:4px 0 12px;font-variant-numeric:tabular-nums}th,td{border-bottom:1px solid #eceef2;padding:4px 10px;text-align:left;vertical-align:top}th{background:#f6f7f9}
footer{color:#8a91a0;font-size:12px;margin-top:32px}
`

/** Runs in the page: reads #amps-data and draws the charts with Chart.js. */
const CLIENT = String.raw`
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('amps-data').textContent);
  var C = ['#2f6fde', '#e0772b', '#2a9d6f', '#b8446b', '#7a5cc7', '#8c8c1f'];
  var KIND = {wait: '#9aa3b2', invoke: '#e0772b', compute: '#2f6fde', 'hand-off': '#2a9d6f'};
  var charts = [];
  window.ampsCharts = charts;
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  function usd(x) { return x == null ? '-' : (Math.abs(x) < 0.01 && x !== 0 ? '$' + x.toPrecision(3) : '$' + x.toFixed(2)); }
  function make(id, config) { var el = document.getElementById(id); if (el) charts.push(new Chart(el, config)); }
  var pct = data.plan.inputs.percentile === 100 ? 'max' : 'p' + data.plan.inputs.percentile;

  if (data.frontier) {
    var f = data.frontier;
    var names = [];
    f.points.forEach(function (p) { Object.keys(p.baselines).forEach(function (n) { if (names.indexOf(n) < 0) names.push(n); }); });
    var sets = [{label: 'amps plan', data: f.points.map(function (p) { return {x: p.sloMs, y: p.plan ? p.plan.costPerMillionUsd : null}; }), borderColor: C[0], backgroundColor: C[0], spanGaps: false, pointRadius: 3}];
    names.forEach(function (n, i) {
      sets.push({label: n, data: f.points.map(function (p) { var v = p.baselines[n]; return {x: p.sloMs, y: v == null ? null : v}; }), borderColor: C[i + 1], backgroundColor: C[i + 1], borderDash: [5, 4], pointRadius: 2});
    });
    sets.push({label: 'chosen plan', type: 'scatter', data: [{x: f.chosen.sloMs, y: f.chosen.costPerMillionUsd}], pointRadius: 8, pointStyle: 'rectRot', borderColor: '#111', backgroundColor: '#ffd23f'});
    make('chart-frontier', {type: 'line', data: {datasets: sets}, options: {parsing: true, scales: {
      x: {type: 'linear', title: {display: true, text: pct + ' latency SLO (ms)'}},
      y: {type: 'logarithmic', title: {display: true, text: 'USD per 1M requests'}, ticks: {callback: function (v) { return usd(v); }}}},
      plugins: {tooltip: {callbacks: {label: function (c) { return c.dataset.label + ': ' + usd(c.parsed.y) + ' at ' + c.parsed.x + ' ms'; }}}}}});
  }

  (data.powerTuning || []).forEach(function (s, i) {
    var chosen = function (ctx) { return ctx.raw && ctx.raw.x === s.chosenMemoryMb ? 7 : 3; };
    make('chart-power-' + i, {type: 'line', data: {datasets: [
      {label: 'time per batch (ms)', yAxisID: 'ms', data: s.points.map(function (p) { return {x: p.memoryMb, y: p.ms}; }), borderColor: C[0], backgroundColor: C[0], pointRadius: chosen},
      {label: 'cost per 1M requests', yAxisID: 'usd', data: s.points.map(function (p) { return {x: p.memoryMb, y: p.costPerMillionUsd}; }), borderColor: C[1], backgroundColor: C[1], pointRadius: chosen}
    ]}, options: {scales: {
      x: {type: 'logarithmic', title: {display: true, text: 'memory (MB)'}, ticks: {callback: function (v) { return String(v); }}},
      ms: {type: 'linear', position: 'left', title: {display: true, text: 'ms per batch of ' + s.batchSize}},
      usd: {type: 'linear', position: 'right', grid: {drawOnChartArea: false}, title: {display: true, text: 'USD per 1M requests'}, ticks: {callback: function (v) { return usd(v); }}}}}});
  });

  (function () {
    var t = data.timeline;
    var lanes = [];
    t.segments.forEach(function (s) { if (lanes.indexOf(s.lane) < 0) lanes.push(s.lane); });
    var kinds = ['wait', 'invoke', 'compute', 'hand-off'];
    var sets = kinds.map(function (k) {
      return {label: k, backgroundColor: KIND[k], grouped: false, barPercentage: 0.6,
        data: t.segments.filter(function (s) { return s.kind === k; }).map(function (s) { return {y: s.lane, x: [s.startMs, s.startMs + s.ms]}; })};
    }).filter(function (d) { return d.data.length > 0; });
    make('chart-timeline', {type: 'bar', data: {labels: lanes, datasets: sets}, options: {indexAxis: 'y', scales: {
      x: {type: 'linear', min: 0, title: {display: true, text: 'ms since the first request of the batch arrived'}}, y: {type: 'category', labels: lanes}},
      plugins: {tooltip: {callbacks: {label: function (c) { var r = c.raw.x; return c.dataset.label + ': ' + (r[1] - r[0]).toFixed(1) + ' ms'; }}}}}});
  })();

  if (data.simulation && data.simulation.latencyHistogram) {
    var h = data.simulation.latencyHistogram;
    var bars = h.counts.map(function (n, i) { return {x: h.fromMs + (i + 0.5) * h.binMs, y: n}; });
    var top = Math.max.apply(null, h.counts);
    var slo = data.simulation.slo.ms;
    make('chart-latency', {type: 'bar', data: {datasets: [
      {label: 'requests', data: bars, backgroundColor: C[0], barPercentage: 1, categoryPercentage: 1},
      {label: 'SLO ' + slo + ' ms', type: 'line', data: [{x: slo, y: 0}, {x: slo, y: top}], borderColor: '#d62828', borderWidth: 2, pointRadius: 0}
    ].concat(data.simulation.latencyMs.p99 <= h.fromMs + h.binMs * h.counts.length ? [
      {label: 'simulated p99', type: 'line', data: [{x: data.simulation.latencyMs.p99, y: 0}, {x: data.simulation.latencyMs.p99, y: top}], borderColor: '#111', borderDash: [4, 3], borderWidth: 1, pointRadius: 0}
    ] : [])}, options: {scales: {x: {type: 'linear', title: {display: true, text: 'latency (ms)'}, suggestedMax: slo * 1.05}, y: {title: {display: true, text: 'requests'}}}}});
  }
  document.body.setAttribute('data-charts', String(charts.length));
})();
`
