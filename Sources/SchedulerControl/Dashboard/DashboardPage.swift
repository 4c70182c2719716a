import Foundation

/// The dashboard: one HTML page with its own CSS and script, no framework, no build step,
/// compiled into the binary. It reads the control API it is served beside (`GET /` on the
/// socket, reached in a browser through `schedctl dashboard`) with the caller's own rights.
enum DashboardPage {
    /// The page with the caller's job list (the JSON of `GET /v1/jobs`) in it. `<` is written
    /// as `\u003c` (the same string to JSON): no text in the list can close the script.
    static func page(initialJobs json: String) -> String {
        html.replacingOccurrences(of: "/*INITIAL_JOBS*/null", with: json.replacingOccurrences(of: "<", with: "\\u003c"))
    }

    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>schedd</title>
<style>
:root { --fg: #1d232a; --muted: #6b7480; --line: #e3e6ea; --ok: #2f8f4e; --bad: #c62f2f; --warn: #b7791f; --run: #2f6fb7; --bg: #fff; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; gap: 1.5em; align-items: baseline; padding: .7em 1.2em; border-bottom: 1px solid var(--line); }
header h1 { font-size: 1.1em; margin: 0; }
header a { color: var(--run); text-decoration: none; }
#status { color: var(--muted); }
main { padding: 1em 1.2em; }
table { border-collapse: collapse; width: 100%; }
/* The job list lays out by its first row: a thousand rows measured one by one was most of the
   time to show it. */
#jobs { table-layout: fixed; }
#jobs td { overflow: hidden; text-overflow: ellipsis; }
#jobs tbody tr { content-visibility: auto; contain-intrinsic-size: auto 2em; }
th, td { text-align: left; padding: .3em .6em; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { color: var(--muted); font-weight: 600; }
tr.failed td.result, .failed { color: var(--bad); }
.succeeded { color: var(--ok); }
.running { color: var(--run); }
.muted { color: var(--muted); }
button { font: inherit; padding: .1em .6em; margin-right: .2em; cursor: pointer; }
svg.spark { vertical-align: middle; }
#timeline svg { width: 100%; }
#timeline .label { font-size: 11px; fill: var(--muted); }
pre { background: #f6f7f9; padding: .8em; overflow: auto; max-height: 70vh; }
.err { color: var(--bad); }
</style>
</head>
<body>
<header><h1><a href="#">schedd</a></h1><a href="#">jobs</a><a href="#timeline">timeline</a><span id="status">…</span></header>
<main id="view"><p class="muted">loading…</p></main>
<script>
"use strict";
const $ = (html) => { const t = document.createElement("template"); t.innerHTML = html.trim(); return t.content.firstChild; };
const escapes = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const special = /[&<>"']/;
const esc = (v) => { const s = String(v ?? ""); return special.test(s) ? s.replace(/[&<>"']/g, (c) => escapes[c]) : s; };
const api = async (path, method = "GET") => {
  const r = await fetch(path, { method, credentials: "same-origin" });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.error ? body.error.message : r.status + " " + r.statusText);
  return body;
};
// One formatter: toLocaleString builds one per call, a millisecond each on a cold page.
const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "short", timeStyle: "medium" });
const when = (t) => t ? dateFormat.format(new Date(t)) : "-";
const dur = (ms) => ms == null ? "-" : ms < 1000 ? ms + " ms" : ms < 60000 ? (ms / 1000).toFixed(1) + " s" : Math.round(ms / 60000) + " min";
const result = (run) => !run ? "-" : run.status === "failed" && run.exit_code != null ? "failed (" + run.exit_code + ")" : run.status;
const enc = (name) => encodeURIComponent(name);
let recent = [];
// The job list as the page was served: drawn first without asking for it again.
let initialJobs = /*INITIAL_JOBS*/null;

async function status() {
  try {
    const s = await api("/v1/status");
    // Why, as `schedctl status` says it: "unhealthy" alone sent the reader to a terminal.
    const why = [];
    if (s.config_file && s.config_file.reload_refused_at) why.push("the job file was refused");
    if (s.database_problem) why.push(s.database_problem.error ? "database writes failing" : "database writes pending");
    const problems = (s.jobs.problems || []).length;
    if (problems) why.push(problems + (problems === 1 ? " job needs" : " jobs need") + " attention");
    document.getElementById("status").textContent = "schedd " + s.version + " · " + s.jobs.total + " jobs · " +
      s.workers_busy + "/" + s.workers_total + " workers busy · " + s.queued + " queued" +
      (s.healthy === false ? " · unhealthy" + (why.length ? ": " + why.join(", ") : "") : "") +
      (s.shutting_down ? " · shutting down (" + s.shutting_down.runs + " runs going on)" : "");
  } catch (e) { document.getElementById("status").textContent = e.message; }
}

function spark(job) {
  const runs = recent.filter((r) => r.job === job && r.duration_ms != null).slice(0, 20).reverse();
  if (!runs.length) return "";
  const max = Math.max(...runs.map((r) => r.duration_ms), 1);
  const bars = runs.map((r, i) => {
    const h = Math.max(1, Math.round(16 * r.duration_ms / max));
    const color = r.status === "succeeded" ? "var(--ok)" : r.status === "skipped" ? "var(--muted)" : "var(--bad)";
    return `<rect x="${i * 4}" y="${16 - h}" width="3" height="${h}" fill="${color}"><title>${esc(r.status)} ${dur(r.duration_ms)}</title></rect>`;
  }).join("");
  return `<svg class="spark" width="80" height="16">${bars}</svg>`;
}

async function act(method, path) {
  try { await api(path, method); } catch (e) { alert(e.message); }
  route();
}

async function jobs() {
  // The list first; the recent runs behind the sparklines follow (with 1M rows of history
  // they are the larger part).
  const list = initialJobs ?? await api("/v1/jobs");
  initialJobs = null;
  const rows = list.map((j) => {
    const failed = j.last_run && ["failed", "timed_out"].includes(j.last_run.status);
    return `<tr class="${failed ? "failed" : ""}" data-job="${esc(j.name)}">
      <td><a href="#job/${enc(j.name)}">${esc(j.name)}</a></td>
      <td>${esc(j.state)}${j.reason ? ` <span class="muted">(${esc(j.reason)})</span>` : ""}</td>
      <td>${esc(j.schedule ?? (j.service ? "service" : "-"))}</td>
      <td>${j.queued ? j.queued + " waiting for a worker" : j.waits_for ? esc("a run waits: " + j.waits_for) : when(j.next_run_at)}</td>
      <td>${j.last_run ? `<a href="#run/${j.last_run.id}">${when(j.last_run.started_at)}</a>` : "-"}</td>
      <td class="result ${esc(j.last_run ? j.last_run.status : "")}">${esc(result(j.last_run))}</td>
      <td class="spark"></td>
      <td><button data-do="run">run</button><button data-do="cancel">cancel</button>${
        j.state.startsWith("paused") ? `<button data-do="resume">resume</button>` : `<button data-do="pause">pause</button>`}</td></tr>`;
  }).join("");
  const view = $(`<div><table id="jobs"><thead><tr><th>job</th><th>state</th><th>schedule</th><th>next</th><th>last run</th>
    <th>result</th><th>recent</th><th></th></tr></thead><tbody>${rows}</tbody></table></div>`);
  api("/v1/runs?since=24h&limit=10000").then((page) => {
    recent = page.runs;
    for (const row of view.querySelectorAll("tr[data-job]")) row.querySelector("td.spark").innerHTML = spark(row.dataset.job);
  }).catch(() => {});
  view.addEventListener("click", (e) => {
    const what = e.target.dataset && e.target.dataset.do;
    if (!what) return;
    const job = e.target.closest("tr").dataset.job;
    act("POST", "/v1/jobs/" + enc(job) + "/" + what);
  });
  return view;
}

async function timeline() {
  const page = await api("/v1/runs?since=24h&limit=10000");
  const runs = page.runs;
  const names = [...new Set(runs.map((r) => r.job))].sort();
  const end = Date.now(), start = end - 24 * 3600 * 1000, width = 1000, row = 18, left = 160;
  const x = (t) => left + (width - left) * (t - start) / (end - start);
  const bars = runs.filter((r) => r.status !== "skipped").map((r) => {
    const s = Date.parse(r.started_at), f = r.finished_at ? Date.parse(r.finished_at) : end;
    const y = names.indexOf(r.job) * row + 2;
    const color = r.status === "succeeded" ? "var(--ok)" : r.status === "running" ? "var(--run)" : "var(--bad)";
    return `<a href="#run/${r.id}"><rect x="${x(s).toFixed(1)}" y="${y}" width="${Math.max(2, x(f) - x(s)).toFixed(1)}" height="${row - 4}" fill="${color}">
      <title>${esc(r.job)} run ${r.id}: ${esc(r.status)}, ${when(r.started_at)}, ${dur(r.duration_ms)}</title></rect></a>`;
  }).join("");
  const labels = names.map((n, i) => `<text class="label" x="0" y="${i * row + 14}">${esc(n)}</text>`).join("");
  const hours = [...Array(25).keys()].map((h) => `<line x1="${x(start + h * 3600e3)}" x2="${x(start + h * 3600e3)}" y1="0" y2="${names.length * row}" stroke="var(--line)"/>`).join("");
  return $(`<div id="timeline"><p class="muted">The last 24 hours, ${runs.length} runs; hover a bar for its run, click it for its output.</p>
    <svg viewBox="0 0 ${width} ${Math.max(row, names.length * row)}">${hours}${labels}${bars}</svg></div>`);
}

async function job(name) {
  const d = await api("/v1/jobs/" + enc(name));
  const runs = d.recent_runs.map((r) => `<tr><td><a href="#run/${r.id}">${r.id}</a></td><td>${esc(r.trigger)}</td><td>${when(r.started_at)}</td>
    <td>${dur(r.duration_ms)}</td><td class="${esc(r.status)}">${esc(result(r))}</td></tr>`).join("");
  return $(`<div><h2>${esc(d.summary.name)} <span class="muted">${esc(d.summary.state)}</span></h2>
    <p class="muted">${esc(d.job.origin.kind)} ${esc(d.job.origin.detail ?? "")}</p>
    <table><thead><tr><th>run</th><th>trigger</th><th>started</th><th>duration</th><th>result</th></tr></thead><tbody>${runs}</tbody></table>
    <h3>definition</h3><pre>${esc(JSON.stringify(d.job.spec, null, 2))}</pre></div>`);
}

let following = null;
async function run(id) {
  const r = await api("/v1/runs/" + id);
  const view = $(`<div><h2>${esc(r.job)} run ${r.id} <span class="${esc(r.status)}" id="run-status">${esc(result(r))}</span></h2>
    <p class="muted">${esc(r.trigger)} · started ${when(r.started_at)} · ${dur(r.duration_ms)}${r.error ? " · " + esc(r.error) : ""}</p>
    <pre id="output"></pre></div>`);
  const out = view.querySelector("#output");
  out.textContent = r.output ?? "";
  if (r.status === "running") {
    // Live: the events stream of this run opens with the kept tail, then follows it.
    out.textContent = "";
    following = new EventSource("/v1/events?run=" + id + "&output=true");
    following.addEventListener("run_output", (e) => { const m = JSON.parse(e.data); out.textContent += m.output; });
    following.addEventListener("run_finished", (e) => {
      const m = JSON.parse(e.data);
      view.querySelector("#run-status").textContent = result(m.run);
      view.querySelector("#run-status").className = m.run.status;
      following.close();
    });
  }
  return view;
}

async function route() {
  if (following) { following.close(); following = null; }
  const hash = decodeURIComponent(location.hash.slice(1));
  const view = document.getElementById("view");
  try {
    let page;
    if (hash.startsWith("run/")) page = await run(Number(hash.slice(4)));
    else if (hash.startsWith("job/")) page = await job(hash.slice(4));
    else if (hash === "timeline") page = await timeline();
    else page = await jobs();
    view.replaceChildren(page);
    // For the benchmark: when the first view was on the page, from the navigation's start.
    if (!performance.getEntriesByName("first-view").length) performance.mark("first-view");
  } catch (e) {
    view.replaceChildren($(`<p class="err">${esc(e.message)}</p>`));
  }
  status();
}
addEventListener("hashchange", route);
route();
setInterval(() => { if (!location.hash || location.hash === "#") route(); else status(); }, 10000);
</script>
</body>
</html>
"""#
}
