// The release page: current release, history, deployment in progress, rollback alarms and the
// rollback dialog of each environment. Talks to the release API's routes on the page's own origin
// (`deplight dashboard` serves both). No framework, no build step.

const CONFIRM_PROD = "ROLLBACK-PROD";
const params = new URLSearchParams(location.search);
// How often the deployment is read while one runs (ms); ?poll= overrides it (tests).
const POLL_RUNNING_MS = Math.max(200, Number(params.get("poll")) || 3000);
const POLL_IDLE_MS = Math.max(POLL_RUNNING_MS, 20000);
const JOB_POLL_MS = Math.min(POLL_RUNNING_MS, 1000);

const $ = (root, sel) => root.querySelector(sel);

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

export async function api(path, options = {}) {
  const resp = await fetch(path, { headers: { accept: "application/json" }, ...options });
  let body = null;
  try { body = await resp.json(); } catch { body = null; }
  if (!resp.ok) {
    const message = body && body.error ? body.error : `${resp.status} ${resp.statusText}`;
    throw new ApiError(resp.status, message);
  }
  return body;
}

export function requestId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function text(el, value) { el.textContent = value == null || value === "" ? "–" : String(value); }

function when(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

function fact(dl, label, value) {
  const dt = document.createElement("dt"); dt.textContent = label;
  const dd = document.createElement("dd"); text(dd, value);
  dl.append(dt, dd);
  return dd;
}

function how(u) {
  const kind = u.operation === "update" ? u.kind : u.operation;
  return [kind, u.path ? `${u.path} path` : null, u.trigger].filter(Boolean).join(", ");
}

class Environment {
  constructor(stack, root) {
    this.stack = stack;
    const node = document.getElementById("env-template").content.firstElementChild.cloneNode(true);
    node.dataset.stack = stack;
    node.id = `env-${stack}`;
    root.append(node);
    this.node = node;
    this.releases = null;
    this.deployment = null;
    this.timer = null;
    text($(node, ".env-name"), stack);
    $(node, ".rollback-button").addEventListener("click", () => openDialog(this));
  }

  q(sel) { return $(this.node, sel); }

  async loadReleases() {
    try {
      this.releases = await api(`/releases?stack=${encodeURIComponent(this.stack)}`);
      this.renderReleases();
    } catch (err) {
      this.q(".current-facts").replaceChildren();
      fact(this.q(".current-facts"), "error", err.message).classList.add("error");
    }
  }

  renderReleases() {
    const r = this.releases;
    const badge = this.q(".tier-badge");
    badge.textContent = r.tier;
    badge.classList.toggle("production", r.production);
    const dl = this.q(".current-facts");
    dl.replaceChildren();
    const c = r.current;
    fact(dl, "Image", r.current_tag || (c && c.image_tag)).classList.add("tag");
    fact(dl, "When", c ? when(c.started) : null);
    fact(dl, "By", c ? c.who : null);
    fact(dl, "How", c ? how(c) : null);
    fact(dl, "Message", c ? c.message : null);
    const note = this.q(".audit-note");
    note.hidden = !r.audit_note;
    note.textContent = r.audit_note ? `Audit trail not available: ${r.audit_note}` : "";
    const body = this.q(".history-table tbody");
    body.replaceChildren();
    for (const u of r.releases) {
      const tr = document.createElement("tr");
      tr.classList.toggle("is-current", !!c && u.id === c.id);
      const cells = [
        ["When", when(u.started)],
        ["What", how(u)],
        ["Image", u.image_tag],
        ["Outcome", u.result + (u.failed_verification ? " (failed verification)" : "")],
        ["By", u.who],
        ["Reason", [u.reason, u.message].filter(Boolean).join(" — ")],
      ];
      for (const [label, value] of cells) {
        const td = document.createElement("td");
        td.dataset.label = label;
        text(td, value);
        if (label === "Image") td.classList.add("tag");
        if (label === "Outcome") td.classList.add("outcome", u.result);
        tr.append(td);
      }
      body.append(tr);
    }
    if (!r.releases.length) {
      const tr = document.createElement("tr");
      const td = document.createElement("td");
      td.colSpan = 6; td.textContent = "no updates in the history yet";
      tr.append(td); body.append(tr);
    }
  }

  async pollDeployment() {
    clearTimeout(this.timer);
    let running = false;
    try {
      this.deployment = await api(`/deployment?stack=${encodeURIComponent(this.stack)}`);
      running = this.deployment.in_progress;
      this.renderDeployment();
    } catch (err) {
      const box = this.q(".deployment-body");
      box.replaceChildren(Object.assign(document.createElement("p"),
        { className: "error", textContent: err.message }));
    }
    this.timer = setTimeout(() => this.pollDeployment(), running ? POLL_RUNNING_MS : POLL_IDLE_MS);
  }

  renderDeployment() {
    const d = this.deployment;
    const box = this.q(".deployment-body");
    box.replaceChildren();
    if (!d.in_progress) {
      const p = document.createElement("p");
      p.className = "muted no-deployment";
      p.textContent = d.note || `no deployment in progress (${d.strategy})`;
      box.append(p);
    } else {
      const dep = d.deployment;
      const dl = document.createElement("dl");
      fact(dl, "Status", dep.status);
      fact(dl, "Strategy", d.strategy);
      fact(dl, "Started", when(dep.created));
      if (dep.tasks) fact(dl, "Tasks", `${dep.tasks.running ?? "?"} of ${dep.tasks.desired ?? "?"}`);
      box.append(dl);
      if (dep.green_percent != null) {
        const label = document.createElement("p");
        label.className = "green-share";
        label.textContent = `Traffic on green: ${dep.green_percent}%`;
        const bar = document.createElement("div");
        bar.className = "traffic";
        const fill = document.createElement("span");
        fill.style.width = `${Math.max(0, Math.min(100, dep.green_percent))}%`;
        bar.append(fill);
        box.append(label, bar);
      }
      const ol = document.createElement("ol");
      ol.className = "stages";
      for (const s of dep.stages || []) {
        const li = document.createElement("li");
        li.className = String(s.state || "");
        li.dataset.stage = s.name;
        li.textContent = `${s.name} — ${s.state}`;
        ol.append(li);
      }
      box.append(ol);
    }
    const list = this.q(".alarm-list");
    list.replaceChildren();
    for (const a of d.alarms) {
      const li = document.createElement("li");
      li.title = a.reason || "";
      const state = document.createElement("span");
      state.className = `state ${a.state}`;
      state.textContent = a.state;
      li.append(state, ` ${a.name}`);
      list.append(li);
    }
    if (!d.alarms.length) list.append(Object.assign(document.createElement("li"),
      { className: "muted", textContent: "no rollback alarms" }));
  }
}

// -- the rollback dialog ----------------------------------------------------------------------

const dialog = () => document.getElementById("rollback-dialog");
let active = null; // {env, requestId, busy}

function whatHappens(env, target) {
  const d = env.deployment;
  const fast = d && d.in_progress && d.strategy !== "rolling";
  if (!target) return "There is no known-good release to roll back to.";
  return fast
    ? `A deployment is in progress: it is stopped and traffic goes back to blue while blue is ` +
      `still alive; then the stack's image_tag is set to ${target} so state and config agree.`
    : `No deployment is in progress: ${target} is released again (pulumi up with ` +
      `release.kind=rollback; all traffic shifts at once) and verified.`;
}

function refreshDialog() {
  const dlg = dialog();
  const env = active.env;
  const target = $(dlg, ".rb-target").value;
  $(dlg, ".rb-what").textContent = whatHappens(env, target);
  const reasonOk = $(dlg, ".rb-reason").value.trim().length > 0;
  const confirmOk = !env.releases.production || $(dlg, ".rb-confirm").value === CONFIRM_PROD;
  $(dlg, ".rb-go").disabled = active.busy || !target || !reasonOk || !confirmOk;
}

function openDialog(env) {
  if (!env.releases) return;
  const dlg = dialog();
  const r = env.releases;
  active = { env, requestId: requestId(), busy: false };
  dlg.classList.toggle("production", r.production);
  dlg.classList.toggle("development", !r.production);
  for (const el of dlg.querySelectorAll(".rb-env")) el.textContent = env.stack;
  $(dlg, ".rb-current").textContent = r.current_tag || "(none)";
  const select = $(dlg, ".rb-target");
  select.replaceChildren();
  const targets = r.known_good.filter((t, i, all) => t !== r.current_tag && all.indexOf(t) === i);
  if (r.default_target && !targets.includes(r.default_target)) targets.unshift(r.default_target);
  targets.sort((a, b) => (a === r.default_target ? -1 : b === r.default_target ? 1 : 0));
  for (const t of targets) select.append(new Option(t === r.default_target ? `${t} (default)` : t, t));
  $(dlg, ".rb-reason").value = "";
  $(dlg, ".rb-confirm").value = "";
  $(dlg, ".rb-confirm-label").hidden = !r.production;
  $(dlg, ".rb-error").hidden = true;
  $(dlg, ".rb-progress").hidden = true;
  $(dlg, ".rb-go").hidden = false;
  $(dlg, ".rb-cancel").textContent = "Cancel";
  for (const el of dlg.querySelectorAll("input, select")) el.disabled = false;
  refreshDialog();
  dlg.showModal();
}

function showError(message) {
  const el = $(dialog(), ".rb-error");
  el.textContent = message;
  el.hidden = false;
}

async function submit() {
  if (!active || active.busy) return; // a second click while the first is on its way
  active.busy = true;
  const dlg = dialog();
  $(dlg, ".rb-go").disabled = true;
  $(dlg, ".rb-error").hidden = true;
  const env = active.env;
  const body = {
    stack: env.stack,
    to: $(dlg, ".rb-target").value,
    reason: $(dlg, ".rb-reason").value.trim(),
    request_id: active.requestId, // the same id on a retry: the back end starts one rollback
  };
  if (env.releases.production) body.confirm = $(dlg, ".rb-confirm").value;
  try {
    const accepted = await api("/rollbacks", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify(body),
    });
    for (const el of dlg.querySelectorAll("input, select")) el.disabled = true;
    $(dlg, ".rb-progress").hidden = false;
    await follow(accepted.request_id);
  } catch (err) {
    showError(err.message);
    active.busy = false;
    refreshDialog();
  }
}

async function follow(id) {
  const dlg = dialog();
  const status = $(dlg, ".rb-status");
  for (;;) {
    const job = await api(`/rollbacks/${encodeURIComponent(id)}`);
    if (job.status === "running") {
      status.textContent = `Rolling back ${active.env.stack} to ${job.to || "the default target"}…`;
      await new Promise((done) => setTimeout(done, JOB_POLL_MS));
      continue;
    }
    status.textContent = `${job.status}: ${job.summary || job.error || ""}`;
    status.className = `rb-status outcome ${job.status}`;
    if (job.status !== "succeeded" && job.error) showError(job.error);
    $(dlg, ".rb-go").hidden = true;
    $(dlg, ".rb-cancel").textContent = "Close";
    const env = active.env;
    await env.loadReleases();
    env.pollDeployment();
    return job;
  }
}

// -- start ------------------------------------------------------------------------------------

async function start() {
  const dlg = dialog();
  for (const sel of [".rb-reason", ".rb-confirm", ".rb-target"]) {
    $(dlg, sel).addEventListener("input", () => active && refreshDialog());
  }
  $(dlg, ".rb-go").addEventListener("click", submit);
  $(dlg, ".rb-cancel").addEventListener("click", () => dlg.close());
  const pageError = document.getElementById("page-error");
  try {
    const info = await api("/stacks");
    document.getElementById("source").textContent = info.source === "local"
      ? "Served by deplight dashboard on this machine (no sign-in; 127.0.0.1 only)."
      : "";
    const wanted = params.get("stack");
    const stacks = wanted ? info.stacks.filter((s) => s === wanted) : info.stacks;
    if (wanted && !stacks.length) throw new Error(`stack ${wanted} is not served here (${info.stacks.join(", ")})`);
    const root = document.getElementById("envs");
    for (const stack of stacks) {
      const env = new Environment(stack, root);
      env.pollDeployment();
      env.loadReleases();
    }
  } catch (err) {
    pageError.textContent = err.message;
    pageError.hidden = false;
  }
}

if (typeof document !== "undefined") start();
