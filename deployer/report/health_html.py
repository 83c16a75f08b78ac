"""The health report as one self-contained HTML page: inline CSS and JS, no outside assets.

The report's JSON document is embedded; the page's script draws a grid of hosts
coloured by verdict (each card opens to its details) and a table sortable by any
column. Every host card carries `data-host` and `data-verdict` for machines.
"""

from __future__ import annotations

import html
import json
from typing import Any

from deployer.health.model import HealthReport
from deployer.report.safe import visible

_CSS = """
:root{--healthy:#1f9d55;--degraded:#d69e2e;--unhealthy:#e3342f;--unreachable:#6b46c1;}
*{box-sizing:border-box}
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f4f5f7;color:#222}
header{padding:16px 24px;background:#1d2330;color:#fff}
header h1{margin:0;font-size:20px}
header .meta{opacity:.75;font-size:12px}
.summary span{display:inline-block;margin-right:12px;padding:2px 8px;border-radius:10px;color:#fff}
main{padding:16px 24px}
.controls{margin:0 0 12px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(240px,1fr));gap:12px}
.host{background:#fff;border-radius:8px;border-left:8px solid #999;padding:10px 12px;
      box-shadow:0 1px 2px rgba(0,0,0,.1);cursor:pointer}
.host h2{margin:0;font-size:16px;display:flex;justify-content:space-between}
.host .verdict{font-size:11px;text-transform:uppercase;color:#fff;padding:1px 6px;border-radius:8px}
.host ul{margin:6px 0 0;padding-left:18px;font-size:12px}
.host .details{display:none;margin-top:8px;font-size:12px}
.host.open .details{display:block}
.host.open{grid-column:1/-1}
.v-healthy{border-color:var(--healthy)} .b-healthy{background:var(--healthy)}
.v-degraded{border-color:var(--degraded)} .b-degraded{background:var(--degraded)}
.v-unhealthy{border-color:var(--unhealthy)} .b-unhealthy{background:var(--unhealthy)}
.v-unreachable{border-color:var(--unreachable)} .b-unreachable{background:var(--unreachable)}
table{border-collapse:collapse;width:100%;background:#fff;margin-top:6px}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e2e4e8;font-size:12px}
th.sort{cursor:pointer;user-select:none} th.sort:after{content:" \\2195";opacity:.4}
th.asc:after{content:" \\2191";opacity:1} th.desc:after{content:" \\2193";opacity:1}
h3{margin:24px 0 4px}
.mono{font-family:ui-monospace,Menlo,Consolas,monospace}
"""

_JS = r"""
(function(){
const R = JSON.parse(document.getElementById('report-data').textContent);
const SEV = {healthy:0, degraded:1, unhealthy:2, unreachable:3};
const el = (tag, attrs, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v; else if (k.startsWith('data-')) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(k == null ? '-' : String(k)));
  return e;
};
const disk = h => h.disks.length ? Math.max(...h.disks.map(d => d.used_pct)) : null;
const load = h => (h.load && h.cpus) ? h.load[0] / h.cpus : null;
const num = (v, d) => v == null ? '-' : Number(v).toFixed(d);
const COLS = [
  ['Host', h => h.name, h => h.name],
  ['Verdict', h => SEV[h.verdict], h => h.verdict],
  ['Reasons', h => h.reasons.length, h => h.reasons.join('; ') || '-'],
  ['SSH ms', h => h.ssh_latency_ms, h => num(h.ssh_latency_ms, 0)],
  ['Docker', h => h.engine_version || '', h => h.engine_version],
  ['Disk %', disk, h => disk(h)],
  ['Mem free %', h => h.mem_available_pct, h => num(h.mem_available_pct, 0)],
  ['Load/CPU', load, h => num(load(h), 2)],
  ['Clock s', h => h.clock_offset_s, h => num(h.clock_offset_s, 2)],
  ['Containers', h => h.containers.length, h => h.containers.length],
];
let sortCol = 1, sortDir = -1;
function cmp(a, b){
  const ka = COLS[sortCol][1](a), kb = COLS[sortCol][1](b);
  if (ka === kb) return a.name < b.name ? -1 : 1;
  if (ka == null) return 1; if (kb == null) return -1;
  return (ka < kb ? -1 : 1) * sortDir;
}
function details(h){
  const box = el('div', {class: 'details'});
  const facts = el('table', {},
    el('tr', {}, el('th', {}, 'address'), el('td', {class: 'mono'}, h.address)),
    el('tr', {}, el('th', {}, 'uptime'), el('td', {}, h.uptime_s == null ? '-' : (h.uptime_s / 3600).toFixed(1) + ' h')),
    el('tr', {}, el('th', {}, 'disks'), el('td', {}, h.disks.map(d => d.path + ' ' + d.used_pct + '%').join(', ') || '-')),
    el('tr', {}, el('th', {}, 'load'), el('td', {}, h.load ? h.load.join(' ') + ' on ' + h.cpus + ' CPUs' : '-')));
  box.append(facts);
  if (h.containers.length) {
    const t = el('table', {}, el('tr', {}, ...['container', 'state', 'health', 'restarts', 'image', 'digest', 'ports', 'probe'].map(x => el('th', {}, x))));
    for (const c of h.containers) {
      t.append(el('tr', {'data-container': c.name},
        el('td', {}, c.name + (c.managed ? '' : ' (not deployer)')), el('td', {}, c.state),
        el('td', {}, c.health), el('td', {}, c.restarts + (c.recent_restarts ? ' (' + c.recent_restarts + ' recent)' : '')),
        el('td', {class: 'mono'}, c.image + (c.wanted_image && c.wanted_image !== c.image ? ' (wants ' + c.wanted_image + ')' : '')),
        el('td', {class: 'mono'}, c.digest ? c.digest.slice(0, 19) : '-'), el('td', {class: 'mono'}, c.ports.join(', ') || '-'),
        el('td', {}, c.probe ? c.probe.detail : '-')));
    }
    box.append(t);
  }
  return box;
}
function card(h){
  const c = el('div', {class: 'host v-' + h.verdict, 'data-host': h.name, 'data-verdict': h.verdict},
    el('h2', {}, el('span', {class: 'name'}, h.name), el('span', {class: 'verdict b-' + h.verdict}, h.verdict)),
    el('ul', {}, ...h.reasons.map(r => el('li', {class: 'reason'}, r))), details(h));
  c.addEventListener('click', () => c.classList.toggle('open'));
  return c;
}
function draw(){
  const hosts = R.hosts.slice().sort(cmp);
  const grid = document.getElementById('grid'); grid.replaceChildren(...hosts.map(card));
  const head = el('tr', {}, ...COLS.map((c, i) => {
    const th = el('th', {class: 'sort' + (i === sortCol ? (sortDir > 0 ? ' asc' : ' desc') : '')}, c[0]);
    th.addEventListener('click', () => { sortDir = i === sortCol ? -sortDir : 1; sortCol = i; draw(); });
    return th;
  }));
  const rows = hosts.map(h => el('tr', {'data-host': h.name, 'data-verdict': h.verdict}, ...COLS.map(c => el('td', {}, c[2](h)))));
  document.getElementById('table').replaceChildren(head, ...rows);
}
const s = document.getElementById('summary');
for (const v of ['healthy', 'degraded', 'unhealthy', 'unreachable'])
  if (R.summary[v]) s.append(el('span', {class: 'b-' + v}, R.summary[v] + ' ' + v));
document.getElementById('sortby').addEventListener('change', e => { sortCol = +e.target.value; sortDir = sortCol === 1 ? -1 : 1; draw(); });
draw();
document.body.setAttribute('data-rendered', 'yes');
})();
"""


def _shown(data: Any) -> Any:
    """The report's data as the page shows it: every string with its control characters
    (and bidi overrides, which would reorder what is read) made visible."""
    if isinstance(data, str):
        return visible(data, multiline=True)
    if isinstance(data, dict):
        return {_shown(k): _shown(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_shown(v) for v in data]
    return data


def _embed(report: HealthReport) -> str:
    text = json.dumps(_shown(report.to_dict()), separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render(report: HealthReport) -> str:
    """The whole page as one string."""
    c = report.counts()
    title = f"deployer health: {len(report.hosts)} hosts, " + ", ".join(
        f"{n} {v}" for v, n in c.items() if n
    )
    options = "".join(
        f'<option value="{i}"{" selected" if i == 1 else ""}>{html.escape(n)}</option>'
        for i, n in enumerate(
            [
                "host",
                "verdict",
                "reasons",
                "SSH latency",
                "Docker",
                "disk",
                "memory",
                "load",
                "clock",
            ]
        )
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>{html.escape(title)}</title>
<style>{_CSS}</style></head>
<body>
<header><h1>{html.escape(title)}</h1>
<div class="meta">generated {html.escape(report.generated_at)} in {report.took_s:.1f}s
{"&middot; playbook " + html.escape(visible(report.playbook)) if report.playbook else ""}</div>
<div class="summary" id="summary"></div></header>
<main>
<noscript><p>This report draws itself with JavaScript; the data is in the page's
report-data block.</p></noscript>
<div class="controls">sort by <select id="sortby">{options}</select>
&middot; click a host for its details</div>
<div class="grid" id="grid"></div>
<h3>All hosts</h3>
<table id="table"></table>
</main>
<script type="application/json" id="report-data">{_embed(report)}</script>
<script>{_JS}</script>
</body></html>
"""
