// The release page: current release, history, deployment in progress, rollback alarms and the
// rollback dialog of each environment. Talks to the release API's routes on the page's own origin:
// `deplight dashboard` on this machine (no sign-in), or the release API in the cloud, where the
// page first signs in with the team's OIDC provider (authorization code with PKCE) and sends the
// access token as a bearer token. No framework, no build step.

// The exact text a production rollback needs, as the back end says (GET /stacks: rollback.checks
// and the release API check the same text); until then nothing can confirm one.
let CONFIRM_PROD = null;
let params = new URLSearchParams(location.search); // read again after a sign-in callback
// How often the deployment is read while one runs (ms); ?poll= overrides it (tests).
let POLL_RUNNING_MS = 3000;
let POLL_IDLE_MS = 20000;
let JOB_POLL_MS = 1000;

function readParams() {
  params = new URLSearchParams(location.search);
  POLL_RUNNING_MS = Math.max(200, Number(params.get("poll")) || 3000);
  POLL_IDLE_MS = Math.max(POLL_RUNNING_MS, 20000);
  JOB_POLL_MS = Math.min(POLL_RUNNING_MS, 1000);
}

const $ = (root, sel) => root.querySelector(sel);

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

export async function api(path, options = {}) {
  const headers = { accept: "application/json", ...(options.headers || {}) };
  if (session) headers.authorization = `Bearer ${session.access_token}`;
  const resp = await fetch(path, { ...options, headers });
  let body = null;
  try { body = await resp.json(); } catch { body = null; }
  if (!resp.ok) {
    // the handler says {"error": ...}; API Gateway's authorizer says {"message": "Unauthorized"}
    const said = body && (body.error || body.message);
    const message = said ? String(said) : `${resp.status} ${resp.statusText}`;
    if (resp.status === 401 && signIn) {
      signedOut(`The release API refused your sign-in (401: ${message}): it has expired or is ` +
        "no longer valid. Sign in again.", true);
    }
    throw new ApiError(resp.status, message);
  }
  return body;
}

// -- sign-in (only when the release API serves the page) --------------------------------------
//
// Authorization code with PKCE (RFC 7636, S256) for a public client: no secret in the page. The
// verifier, state and nonce wait in sessionStorage (this tab only) for the callback, which
// removes them and takes the code and state out of the address bar. The access token lives in
// memory and in sessionStorage (so a reload keeps this tab signed in), never in localStorage.

const PENDING_KEY = "deplight.sign-in";
const TOKEN_KEY = "deplight.session";
let signIn = null; // {issuer, client_id, scopes, authorization_endpoint, token_endpoint}
let session = null; // {access_token, expires_at, who}

function b64url(bytes) {
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomText(size) { return b64url(crypto.getRandomValues(new Uint8Array(size))); }

export async function s256(verifier) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return b64url(new Uint8Array(digest));
}

function jwtClaims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(part), (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return claims && typeof claims === "object" ? claims : null;
  } catch { return null; }
}

function stored(key) {
  try { return JSON.parse(sessionStorage.getItem(key) || "null"); } catch { return null; }
}

async function startSignIn() {
  const verifier = randomText(32); // 43 characters, as RFC 7636 asks at least
  const state = randomText(16);
  const nonce = randomText(16);
  const redirectUri = new URL(".", location.href).href; // the page itself, without a query
  sessionStorage.setItem(PENDING_KEY, JSON.stringify({
    verifier, state, nonce, redirect_uri: redirectUri, back: location.search,
  }));
  const url = new URL(signIn.authorization_endpoint);
  const query = {
    response_type: "code", client_id: signIn.client_id, redirect_uri: redirectUri,
    scope: signIn.scopes.join(" "), state, nonce,
    code_challenge: await s256(verifier), code_challenge_method: "S256",
  };
  if (signIn.audience) query.audience = signIn.audience; // Auth0: a JWT access token for the API
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  location.assign(url.href);
}

// The identity provider's answer (?code=&state= or ?error=), taken out of the address bar and of
// the tab's history before anything else runs; the pending sign-in is removed (one use).
function takeCallback() {
  const url = new URL(location.href);
  const q = url.searchParams;
  if (!q.has("code") && !q.has("error")) return null;
  const pending = stored(PENDING_KEY);
  sessionStorage.removeItem(PENDING_KEY);
  const back = pending && typeof pending.back === "string" && pending.back.startsWith("?")
    ? pending.back : "";
  history.replaceState(null, "", url.pathname + back);
  return { code: q.get("code"), state: q.get("state"), error: q.get("error"),
    description: q.get("error_description"), pending };
}

async function finishSignIn(cb) {
  if (cb.error) {
    throw new Error(`the identity provider answered ${cb.error}` +
      (cb.description ? `: ${cb.description}` : ""));
  }
  const p = cb.pending;
  if (!p || !p.verifier || !p.state || !p.nonce) {
    throw new Error("this tab started no sign-in, or already used its answer; sign in again");
  }
  if (cb.state !== p.state) {
    throw new Error("the answer's state is not the one this tab sent (a stale or forged " +
      "sign-in); sign in again");
  }
  let resp;
  try {
    resp = await fetch(signIn.token_endpoint, {
      method: "POST",
      credentials: "omit",
      headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
      body: new URLSearchParams({
        grant_type: "authorization_code", code: cb.code || "", redirect_uri: p.redirect_uri,
        client_id: signIn.client_id, code_verifier: p.verifier,
      }),
    });
  } catch (err) {
    throw new Error(`cannot reach the token endpoint ${signIn.token_endpoint}: ${err.message}`);
  }
  let body = null;
  try { body = await resp.json(); } catch { body = null; }
  if (!resp.ok || !body) {
    const why = body && body.error
      ? body.error + (body.error_description ? `: ${body.error_description}` : "")
      : `${resp.status} ${resp.statusText}`;
    throw new Error(`the identity provider issued no token (${why})`);
  }
  if (!body.access_token) throw new Error("the token endpoint's answer has no access_token");
  if (body.token_type && String(body.token_type).toLowerCase() !== "bearer") {
    throw new Error(`the token endpoint issued a ${body.token_type} token, not a bearer token`);
  }
  // The ID token came straight from the token endpoint over TLS (OIDC Core 3.1.3.7): its
  // claims are checked, its signature is left to that channel.
  const id = body.id_token ? jwtClaims(body.id_token) : null;
  if (!id) throw new Error("the token endpoint sent no readable ID token (do the scopes include openid?)");
  if (id.nonce !== p.nonce) throw new Error("the ID token's nonce is not the one this tab sent; sign in again");
  if (id.iss !== signIn.issuer) throw new Error(`the ID token's issuer is ${id.iss}, expected ${signIn.issuer}`);
  const audiences = Array.isArray(id.aud) ? id.aud : [id.aud];
  if (!audiences.includes(signIn.client_id)) {
    throw new Error(`the ID token is for ${audiences.join(", ")}, not for this page (${signIn.client_id})`);
  }
  const lifetime = Number(body.expires_in) > 0 ? Number(body.expires_in) : 3600;
  session = { access_token: body.access_token, expires_at: Date.now() + lifetime * 1000,
    who: id.email || id.preferred_username || id.sub };
  sessionStorage.setItem(TOKEN_KEY, JSON.stringify(session));
}

// This tab's session, if it has one that is good for another 30 s.
function resumeSession() {
  const s = stored(TOKEN_KEY);
  if (s && typeof s.access_token === "string" && Number(s.expires_at) > Date.now() + 30000) {
    session = s;
    return true;
  }
  sessionStorage.removeItem(TOKEN_KEY);
  return false;
}

function showSignIn(message, isError) {
  document.getElementById("who-box").hidden = true;
  const box = document.getElementById("sign-in");
  $(box, ".sign-in-issuer").textContent = signIn.issuer;
  const note = $(box, ".sign-in-message");
  note.textContent = message || "";
  note.hidden = !message;
  note.className = `sign-in-message ${isError ? "error" : "muted"}`;
  $(box, ".sign-in-button").disabled = false;
  box.hidden = false;
}

function showSignedIn() {
  document.getElementById("sign-in").hidden = true;
  document.getElementById("who").textContent = session.who ? `Signed in as ${session.who}` : "Signed in";
  document.getElementById("who-box").hidden = false;
}

function signedOut(message, isError) {
  if (!session && document.getElementById("envs").childElementCount === 0) return; // already
  session = null;
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(PENDING_KEY);
  for (const env of environments) env.stop();
  environments.length = 0;
  document.getElementById("envs").replaceChildren();
  if (dialog().open) dialog().close();
  showSignIn(message, isError);
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

// A result as CSS classes: only a plain word ("started, no outcome" gets none).
function classOf(result) { return /^[A-Za-z_-]+$/.test(String(result)) ? [String(result)] : []; }

let source = "local"; // "local": deplight dashboard; "api": the release API
const environments = [];

// GET /releases of a stack; from the release API its largest page (it answers 20 records by
// default, at most 100), from `deplight dashboard` the whole history.
function releasesPath(stack) {
  return `/releases?stack=${encodeURIComponent(stack)}` + (source === "api" ? "&limit=100" : "");
}

// The release API's GET /releases (audit records) in the shape `deplight dashboard` answers.
function releasesOf(body) {
  if (source !== "api") return body;
  const row = (rec) => ({
    id: rec.sk,
    started: rec.started_at,
    operation: rec.operation === "rollback-request" ? "rollback request" : rec.operation,
    path: rec.path,
    trigger: rec.trigger,
    image_tag: rec.to_tag,
    result: rec.status || rec.result,
    who: rec.who,
    reason: rec.reason,
    message: rec.error || null,
    request_id: rec.request_id,
  });
  return {
    stack: body.stack,
    tier: body.tier,
    production: body.tier === "production",
    current_tag: body.current ? body.current.to_tag : null,
    current: body.current ? row(body.current) : null,
    known_good: body.known_good,
    default_target: body.default_target,
    releases: body.releases.map(row),
    audit_note: null,
  };
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

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  async loadReleases() {
    try {
      this.releases = releasesOf(await api(releasesPath(this.stack)));
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
        if (label === "Outcome") td.classList.add("outcome", ...classOf(u.result));
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
    if (this.stopped) return;
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
    if (source === "api") await followRequest(accepted);
    else await follow(accepted.request_id);
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

// The release API dispatches rollback.yml and answers 202: the request is followed in the release
// log, where it goes requested -> dispatched -> running -> succeeded, failed or refused.
async function followRequest(accepted) {
  const dlg = dialog();
  const status = $(dlg, ".rb-status");
  const env = active.env;
  const runs = Object.assign(document.createElement("a"), {
    href: accepted.runs_url, textContent: "the workflow's runs", target: "_blank", rel: "noopener noreferrer",
  });
  let state = accepted.status;
  let request = null;
  for (;;) {
    status.className = "rb-status";
    status.replaceChildren(`${state}: rollback of ${env.stack} to ${accepted.to} through ` +
      `${accepted.workflow} (request ${accepted.request_id}); see `, runs, ".");
    if (!["requested", "dispatched", "running"].includes(state)) break;
    await new Promise((done) => setTimeout(done, POLL_RUNNING_MS));
    if (!session) return null; // signed out meanwhile
    const body = await api(releasesPath(env.stack));
    env.releases = releasesOf(body);
    env.renderReleases();
    request = body.releases.find((r) => r.operation === "rollback-request" &&
      r.request_id === accepted.request_id) || request;
    state = request ? request.status : state;
  }
  status.classList.add("outcome", ...classOf(state));
  const error = request && (request.error || (request.rollback && request.rollback.error));
  if (state !== "succeeded" && error) showError(error);
  $(dlg, ".rb-go").hidden = true;
  $(dlg, ".rb-cancel").textContent = "Close";
  env.pollDeployment();
  return state;
}

// -- start ------------------------------------------------------------------------------------

function showEnvironments(info) {
  const wanted = params.get("stack");
  const stacks = wanted ? info.stacks.filter((s) => s === wanted) : info.stacks;
  if (wanted && !stacks.length) throw new Error(`stack ${wanted} is not served here (${info.stacks.join(", ")})`);
  const root = document.getElementById("envs");
  for (const stack of stacks) {
    const env = new Environment(stack, root);
    environments.push(env);
    env.pollDeployment();
    env.loadReleases();
  }
}

async function start() {
  const dlg = dialog();
  for (const sel of [".rb-reason", ".rb-confirm", ".rb-target"]) {
    $(dlg, sel).addEventListener("input", () => active && refreshDialog());
  }
  $(dlg, ".rb-go").addEventListener("click", submit);
  $(dlg, ".rb-cancel").addEventListener("click", () => dlg.close());
  const pageError = document.getElementById("page-error");
  const callback = takeCallback();
  readParams();
  let info;
  try {
    info = await api("/stacks");
  } catch (err) {
    pageError.textContent = err.message;
    pageError.hidden = false;
    return;
  }
  CONFIRM_PROD = typeof info.confirm_prod === "string" ? info.confirm_prod : null;
  for (const code of document.querySelectorAll(".rb-confirm-text")) code.textContent = CONFIRM_PROD ?? "";
  source = info.source === "api" ? "api" : "local";
  document.getElementById("source").textContent = source === "local"
    ? "Served by deplight dashboard on this machine (no sign-in; 127.0.0.1 only)."
    : `Served by the release API of stack ${info.stacks.join(", ")}.`;
  if (info.sign_in) {
    signIn = info.sign_in;
    const button = $(document.getElementById("sign-in"), ".sign-in-button");
    button.addEventListener("click", () => {
      button.disabled = true;
      startSignIn().catch((err) => showSignIn(`Cannot start the sign-in: ${err.message}`, true));
    });
    document.getElementById("sign-out").addEventListener("click", () => signedOut(
      "Signed out: this tab forgot its token. (The identity provider's own session is " +
      "unchanged, so signing in again may not ask for a password.)", false));
    if (callback) {
      try {
        await finishSignIn(callback);
      } catch (err) {
        showSignIn(`Sign-in failed: ${err.message}`, true);
        return;
      }
    } else if (!resumeSession()) {
      showSignIn("", false);
      return;
    }
    showSignedIn();
  }
  try {
    showEnvironments(info);
  } catch (err) {
    pageError.textContent = err.message;
    pageError.hidden = false;
  }
}

if (typeof document !== "undefined") start();
