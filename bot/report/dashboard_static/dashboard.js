// ammkeeper dashboard: fills the page from its JSON endpoint and polls it, so the page follows each
// head without reloading. Text goes in with textContent only: reasons and errors come from outside.
"use strict";

const PAGE = document.body.dataset.page;
const POLL_MS = 1000;
let lastText = null;
let chart = null;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const FORMATS = {};  // one formatter per precision: building one is what costs

function money(text, places = 2) {
  if (text === null || text === undefined) return "-";
  FORMATS[places] ||= new Intl.NumberFormat("en-US", { minimumFractionDigits: places, maximumFractionDigits: places });
  return FORMATS[places].format(Number(text));
}

function pct(text, places = 3) {
  if (text === null || text === undefined) return "-";
  return (Number(text) * 100).toFixed(places) + "%";
}

function when(t) {
  return t ? new Date(t * 1000).toISOString().replace("T", " ").slice(0, 19) : "-";
}

// an exact value: shown rounded, kept whole in data-exact
function exact(text, shown, cls) {
  return el("span", { class: cls, "data-exact": text }, shown);
}

function table(head, rows, attrs) {
  return el("table", attrs || {}, el("thead", {}, el("tr", {}, ...head.map((h) => el("th", {}, h)))),
    el("tbody", {}, ...rows));
}

function section(id, title, ...children) {
  return el("section", { id }, el("h2", {}, title), ...children);
}

function canvas(id) {
  return el("div", { class: "chart" }, el("canvas", { id }));
}

function drawChart(id, config) {
  if (typeof Chart === "undefined") {
    const holder = document.getElementById(id);
    if (holder) holder.replaceWith(el("p", { class: "note" }, "charts need chart.js: run `npm ci` on this machine"));
    return;
  }
  if (chart) chart.destroy();
  // sized once from its box (a responsive chart draws twice: once more when it observes its size)
  const canvasNode = document.getElementById(id);
  const box = canvasNode.parentElement;
  canvasNode.width = box.clientWidth;
  canvasNode.height = box.clientHeight;
  config.options = Object.assign({ animation: false, responsive: false, events: ["mousemove", "mouseout"] }, config.options);
  chart = new Chart(canvasNode, config);
}

// --- the book -----------------------------------------------------------------------------------

function renderBook(d) {
  const n = d.numeraire;
  const rows = d.sleeves.map((s) =>
    el("tr", { "data-sleeve": s.label },
      el("td", {}, s.label), el("td", { class: "num" }, exact(s.value, money(s.value), "value")),
      el("td", { class: "num" }, exact(s.weight, pct(s.weight), "weight")),
      el("td", { class: "num" }, exact(s.target, pct(s.target), "target")),
      el("td", { class: "num" }, pct(s.drift)), el("td", { class: "num" }, pct(s.band)),
      el("td", { class: "num" }, s.il === null ? "-" : pct(s.il)),
      el("td", { class: "num" }, money(s.fee_income)), el("td", { class: "num" }, money(s.pnl_vs_hold))));
  const prices = Object.entries(d.prices).map(([symbol, p]) =>
    el("tr", {}, el("td", {}, symbol), el("td", { class: "num" }, money(p.spot, 6)),
      el("td", {}, p.via.join(" > ") || n), el("td", { class: "num" }, money(p.twap, 6)), el("td", {}, p.twap_kind)));
  const parts = [
    section("summary", "Book",
      el("p", {}, "value ", exact(d.total, money(d.total), "total"), ` ${n} at block `,
        el("span", { id: "block" }, String(d.block)), ` (${d.source === "keeper" ? "the keeper's last head" : "read now"})`),
      el("p", { id: "decision", class: d.decision }, `${d.decision.toUpperCase()}: ${d.reason}`)),
    section("weights", "Weights against targets and bands", canvas("weights-chart")),
    section("sleeves", "Sleeves", table(["sleeve", `value (${n})`, "weight", "target", "drift", "band", "IL", "fees", "vs hold"], rows)),
    section("prices", "Prices (provenance: route of pairs at this block; TWAP from the pairs' cumulatives)",
      table(["token", "spot", "route", "TWAP", "kind"], prices)),
  ];
  if (d.plan) {
    const c = d.plan.costs;
    parts.push(section("plan", "What acting would do",
      el("ol", {}, ...d.plan.ops.map((o) => el("li", {}, `${o.kind}: ${o.purpose}`))),
      el("p", {}, `cost ${money(c.total, 4)} ${n} (${money(c.bps, 1)} bps of ${money(c.traded_value)} traded; tax ${money(c.tax, 2)}) for a benefit of ${money(c.benefit, 4)}`)));
  }
  if (d.tax) {
    parts.push(section("tax", "Tax impact",
      table(["lot", "amount", "proceeds", "basis", "gain", "term"], d.tax.disposals.map((x) =>
        el("tr", {}, el("td", {}, x.lot), el("td", {}, `${x.units} ${x.label}`), el("td", { class: "num" }, money(x.proceeds)),
          el("td", { class: "num" }, money(x.basis)), el("td", { class: "num" }, money(x.gain)), el("td", {}, x.term)))),
      el("p", {}, `short-term ${money(d.tax.gains.short)}, long-term ${money(d.tax.gains.long)} ${n}; ${d.tax.note || ""}`)));
  }
  return { parts, after: () => drawChart("weights-chart", {
    type: "bar",
    data: {
      labels: d.sleeves.map((s) => s.label),
      datasets: [
        { label: "band", data: d.sleeves.map((s) => [(+s.target - +s.band) * 100, (+s.target + +s.band) * 100]), backgroundColor: "rgba(120,160,220,0.25)", grouped: false },
        { label: "weight %", data: d.sleeves.map((s) => +s.weight * 100), backgroundColor: "#2d6cdf", barPercentage: 0.5 },
        { label: "target %", data: d.sleeves.map((s) => +s.target * 100), backgroundColor: "#999", barPercentage: 0.5 },
      ],
    },
  }) };
}

// --- the history --------------------------------------------------------------------------------

function renderHistory(d) {
  const n = d.numeraire;
  const rows = d.rebalances.map((r) =>
    el("tr", { "data-intent": String(r.intent) },
      el("td", {}, `#${r.intent}`), el("td", {}, String(r.block)),
      el("td", { class: "hash" }, r.tx_hash),
      el("td", { title: r.ops.map((o) => `${o.kind}: ${o.purpose}`).join("\n") }, String(r.ops.length)),
      el("td", { class: "num" }, money(r.cost, 4)),
      el("td", { class: "num" }, exact(r.value_after_predicted, money(r.value_after_predicted), "predicted")),
      el("td", { class: "num" }, r.value_after_realized !== null
        ? exact(r.value_after_realized, money(r.value_after_realized), "realized")
        : r.matches === true ? "= predicted" : "-"),
      el("td", { class: "matches" }, r.matches === true ? "realized equals predicted" : r.matches === false ? "DIFFERS" : "-"),
      el("td", { class: "num" }, `${r.gas_used.toLocaleString("en-US")} (${(Number(r.fee_wei) / 1e18).toFixed(6)})`),
      el("td", {}, r.attempts.length > 1 ? `${r.attempts.length} (replaced)` : "1"),
      el("td", {}, r.tax ? `${money(r.tax.short)} / ${money(r.tax.long)}` : "-")));
  const parts = [
    section("value", `Value (${n}) over ${d.heads} heads: the book (rebalances marked), holding, the LP never rebalanced`, canvas("value-chart")),
    section("rebalances", `Rebalances (${d.rebalances.length})`,
      table(["intent", "block", "transaction", "ops", "cost", "predicted after", "realized after", "check", "gas (fee, native)", "attempts", "tax short / long"], rows, { id: "rebalance-table" })),
  ];
  const s = d.series;
  // points as {x, y} on a linear block axis, already in order: Chart.js draws them without parsing
  const points = (column) => s.block.map((b, i) => ({ x: b, y: column[i] }));
  const line = (label, data, color) => ({ label, data, borderColor: color, borderWidth: 1.5, pointRadius: 0 });
  const marks = d.rebalances.filter((r) => r.value_before !== null).map((r) => ({ x: r.block, y: Number(r.value_before) })).reverse();
  return { parts, after: () => drawChart("value-chart", {
    type: "line",
    data: {
      datasets: [
        line("book", points(s.value), "#2d6cdf"),
        line("holding", points(s.hold), "#999"),
        line("LP, never rebalanced", points(s.lp), "#3a3"),
        { type: "scatter", label: "rebalance", data: marks, pointRadius: 4, pointBackgroundColor: "#d33", borderColor: "#d33" },
      ],
    },
    options: {
      parsing: false, normalized: true, spanGaps: true,
      scales: { x: { type: "linear", title: { display: true, text: "block" }, ticks: { precision: 0 } } },
    },
  }) };
}

// --- the keeper ---------------------------------------------------------------------------------

function renderKeeper(d) {
  const eth = (wei) => (wei === null ? "-" : (Number(wei) / 1e18).toFixed(6));
  const b = d.breaker;
  const headRows = (list) => list.map((h) => el("tr", { class: h.action }, el("td", {}, String(h.block)), el("td", {}, when(h.t)),
    el("td", { class: "action" }, h.action), el("td", { class: "reason" }, h.reason), el("td", { class: "hash" }, h.tx_hash || "")));
  const parts = [
    section("status", "Keeper",
      el("ul", {},
        el("li", {}, d.running ? "running in this process" : "no keeper in this process (the journal and the chain)"),
        el("li", { id: "kill-switch" }, d.kill_switch ? `PAUSED: ${d.kill_switch}` : "kill switch off"),
        el("li", {}, `vault paused on-chain: ${d.vault_paused_on_chain === null ? "unknown" : d.vault_paused_on_chain ? "yes" : "no"}`),
        el("li", {}, b ? `circuit breaker: ${b.failures_in_a_row} of ${b.max_failures} failures in a row${b.tripped ? " (TRIPPED)" : ""}` : "circuit breaker: known to a running keeper"),
        el("li", {}, `keeper ${d.keeper || "-"}: gas balance ${eth(d.gas_balance_wei)}; today ${eth(d.gas_today_wei)} of ${d.gas_budget_wei ? eth(d.gas_budget_wei) : "no budget"}`),
        d.chain_error ? el("li", { class: "error" }, d.chain_error) : null)),
    section("endpoints", "RPC endpoints", table(["endpoint", "state", "failures"], d.endpoints.map((e) =>
      el("tr", {}, el("td", {}, e.endpoint), el("td", {}, e.state), el("td", { class: "num" }, String(e.failures)))))),
    section("heads", "Last heads", table(["block", "time", "action", "reason", "transaction"], headRows(d.heads), { id: "heads-table" })),
    section("refusals", "Guard refusals", table(["block", "time", "action", "reason", "transaction"], headRows(d.refusals))),
    section("alerts", "Alerts", table(["time", "kind", "title", "delivered"], d.alerts.map((a) =>
      el("tr", {}, el("td", {}, when(a.at)), el("td", {}, a.kind), el("td", {}, a.title), el("td", {}, a.delivered ? "yes" : "no"))))),
    section("control-log", "Controls used here", table(["time", "action", "who", "reason"], d.controls.map((c) =>
      el("tr", {}, el("td", {}, when(c.at)), el("td", {}, c.action), el("td", {}, c.who), el("td", {}, c.detail))))),
  ];
  return { parts, after: () => {} };
}

const RENDER = { book: renderBook, history: renderHistory, keeper: renderKeeper };

async function refresh() {
  const live = document.getElementById("live");
  try {
    const response = await fetch(`/api/${PAGE}`, { cache: "no-store" });
    const text = await response.text();
    if (!response.ok) throw new Error(JSON.parse(text).error || response.statusText);
    live.textContent = `live · ${new Date().toISOString().slice(11, 19)}`;
    live.className = "ok";
    if (text === lastText) return;
    lastText = text;
    performance.mark("render");  // how long drawing takes, for benchmarks/dashboard.py
    const { parts, after } = RENDER[PAGE](JSON.parse(text));
    const main = document.getElementById("page");
    const controls = document.getElementById("controls");
    main.replaceChildren(...parts);
    if (controls) main.prepend(controls);
    performance.measure("tables", "render");
    performance.mark("chart");
    after();
    performance.measure("chart", "chart");
    performance.mark("drawn");  // from the navigation's start: the page loaded, filled and drawn
  } catch (error) {
    live.textContent = `not updated: ${error.message}`;
    live.className = "error";
  }
}

async function control(action) {
  const said = document.getElementById("control-said");
  const token = document.getElementById("token").value;
  const reason = document.getElementById("reason").value;
  const onChain = document.getElementById("on-chain");
  const response = await fetch(`/api/${action}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
    body: JSON.stringify({ reason, on_chain: action === "pause" && onChain !== null && onChain.checked }),
  });
  const answer = await response.json();
  said.textContent = response.ok ? answer.said : answer.error;
  said.className = response.ok ? "ok" : "error";
  lastText = null;
  refresh();
}

const controls = document.getElementById("controls");
if (controls) {
  document.getElementById("pause").addEventListener("click", () => control("pause"));
  document.getElementById("resume").addEventListener("click", () => control("resume"));
}
refresh();
setInterval(refresh, POLL_MS);
