// Sigil web UI: plain JavaScript over the REST API. Values go in, never come back.
"use strict";

const TOKEN_KEY = "sigil.token";
const state = { token: null, claims: null, session: 0, expiryTimer: null, secrets: [], logs: { dep: null, first: null, last: null, tail: null } };
const $ = (id) => document.getElementById(id);

// The same rule and messages as the API (sigil_shared.ids.key_problem).
function keyProblem(key) {
  if (!key) return "key must not be empty";
  if (key.length > 256) return "key must be at most 256 characters";
  if (!/^[A-Za-z]/.test(key)) return "key must start with a letter (a-z, A-Z)";
  if (!/^[A-Za-z0-9_]*$/.test(key)) return "key may contain only ASCII letters, digits and underscores";
  return null;
}

class TokenError extends Error {}

function decodeClaims(token) {
  const parts = token.split(".");
  if (parts.length !== 3 || !parts[1]) throw new TokenError("That is not a valid token: paste the whole output of sigil token.");
  let claims;
  try {
    const part = parts[1];
    const json = atob(part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "="));
    claims = JSON.parse(json);
  } catch {
    throw new TokenError("That is not a valid token: paste the whole output of sigil token.");
  }
  if (!claims || typeof claims !== "object" || !claims.org || !claims.role) {
    throw new TokenError("That token is not a Sigil access token (no organization or role in it).");
  }
  return claims;
}

// The server checks the signature; the browser can only read the expiry, which it does so that
// an expired token is refused here with a clear message instead of at the first call.
function expiryProblem(claims) {
  if (typeof claims.exp !== "number") return "That token has no expiry time; Sigil accepts only tokens that expire.";
  if (claims.exp * 1000 <= Date.now()) {
    return `That token expired at ${new Date(claims.exp * 1000).toLocaleString()}. Get a new one (sigil token --org ORG --role ROLE) and sign in again.`;
  }
  return null;
}

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error && body.error.message) || `HTTP ${status}`);
    this.status = status;
    this.code = body && body.error ? body.error.code : "http_error";
    this.details = body && body.error ? body.error.details || {} : {};
  }
}

// A request that was in flight when its user signed out: its answer must not reach the cleared
// screen (or the next user's).
class StaleError extends Error {}
function ignored(err) { return err instanceof StaleError || !state.token; }
function checkSession(session) { if (session !== state.session) throw new StaleError("signed out"); }

async function api(method, path, body) {
  const session = state.session;
  const init = { method, headers: { Authorization: `Bearer ${state.token}` } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  checkSession(session);
  if (resp.status === 401) {
    const body = await resp.json().catch(() => null);
    signOut(`The server refused this token (${(body && body.error && body.error.message) || "401"}); sign in again with a new one.`);
    throw new ApiError(401, body);
  }
  if (resp.status === 204) return null;
  const data = await resp.json().catch(() => null);
  checkSession(session);
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

function toast(text) {
  const el = $("toast");
  el.textContent = text;
  el.classList.add("show");
  setTimeout(() => el.classList.remove("show"), 3000);
}

function canWrite() { return state.claims && state.claims.role !== "read_only"; }
function isCustomer() { return Boolean(state.claims && state.claims.customer_org); }

// ---- sign in ----
function signIn(token) {
  const claims = decodeClaims(token);
  const expired = expiryProblem(claims);
  if (expired) throw new TokenError(expired);
  state.session += 1;
  state.token = token;
  state.claims = claims;
  sessionStorage.setItem(TOKEN_KEY, token);
  $("signin").hidden = true;
  $("app").hidden = false;
  $("whoami").textContent = `${claims.sub} · ${claims.org}${claims.customer_org ? " / " + claims.customer_org : ""} · ${claims.role}`;
  $("nav-audit").hidden = claims.role !== "admin";
  $("create-secret").hidden = !canWrite();
  $("customer-filter-box").hidden = isCustomer();
  $("secret-customer-box").hidden = isCustomer();
  // Sign out when the token expires rather than failing the next call (capped: setTimeout
  // fires at once for delays beyond 2^31 - 1 ms).
  const left = Math.min(claims.exp * 1000 - Date.now(), 2 ** 31 - 1);
  state.expiryTimer = setTimeout(() => signOut("Your token expired; sign in again with a new one."), left);
  route();
}

// Everything the previous user saw or typed goes: data, inputs, results, log lines, dialogs.
function clearScreen() {
  state.session += 1;
  if (state.logs.tail) state.logs.tail.abort();
  clearTimeout(state.expiryTimer);
  state.expiryTimer = null;
  state.secrets = [];
  state.logs = { dep: null, first: null, last: null, tail: null };
  editing = null;
  deleting = null;
  for (const dialog of document.querySelectorAll("dialog")) if (dialog.open) dialog.close();
  for (const field of document.querySelectorAll("#app input, #app textarea, dialog input, dialog textarea")) field.value = "";
  for (const select of document.querySelectorAll("select")) select.selectedIndex = 0;
  for (const body of document.querySelectorAll("tbody")) body.replaceChildren();
  for (const id of ["logs-output", "template-result", "confirm-affected"]) $(id).replaceChildren();
  for (const el of document.querySelectorAll(".status, .error, .warning, #whoami, #toast, #history-title, #history-scope")) el.textContent = "";
  $("short-warning").hidden = true;
  $("toast").classList.remove("show");
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  clearScreen();
  state.token = null;
  state.claims = null;
  $("app").hidden = true;
  $("signin").hidden = false;
  $("token-input").value = "";
  $("signin-error").textContent = message || "";
  if (location.hash) history.replaceState(null, "", location.pathname);
}

// ---- routing ----
function route() {
  let page = (location.hash.replace(/^#\//, "") || "secrets").split("?")[0];
  if (page === "audit" && state.claims.role !== "admin") page = "secrets";
  for (const section of document.querySelectorAll(".page")) section.hidden = section.id !== `page-${page}`;
  for (const link of document.querySelectorAll("nav a[data-page]")) {
    if (link.dataset.page === page) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
  }
  if (page === "secrets") loadSecrets();
  if (page === "audit") loadAudit();
}

// ---- secrets ----
function cell(text) { const td = document.createElement("td"); td.textContent = text; return td; }

// Narrow screens show each row as a card; its cells carry their column name for that layout.
function labelCells(tbody) {
  const names = [...tbody.closest("table").querySelectorAll("thead th")].map((th) => th.textContent);
  for (const tr of tbody.rows) {
    [...tr.cells].forEach((td, i) => { if (!td.classList.contains("actions") && names[i]) td.dataset.label = names[i]; });
  }
}

function scopeParams() {
  const params = new URLSearchParams({ limit: "1000" });
  if (isCustomer()) return params;
  const customer = $("customer-filter").value.trim();
  let scope = $("scope-filter").value;
  if (customer && scope === "all") { scope = "customer"; $("scope-filter").value = "customer"; }
  if (scope === "vendor") params.set("vendorOnly", "true");
  if (scope === "customer" && customer) params.set("customerOrganizationId", customer);
  return params;
}

async function loadSecrets() {
  const status = $("secrets-status");
  status.textContent = "Loading…";
  try {
    const items = [];
    const base = scopeParams();
    if (!isCustomer() && $("scope-filter").value === "customer" && !base.has("customerOrganizationId")) {
      status.textContent = "Enter a customer organization id to filter by.";
      $("secrets-rows").replaceChildren();
      return;
    }
    let cursor = null;
    do {
      const params = new URLSearchParams(base);
      if (cursor) params.set("cursor", cursor);
      const page = await api("GET", `/api/v1/secrets?${params}`);
      items.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
    state.secrets = items;
    renderSecrets();
  } catch (err) {
    if (ignored(err)) return;
    status.textContent = err.message;
  }
}

function badge(text, title) {
  const span = document.createElement("span");
  span.className = "badge";
  span.textContent = text;
  span.title = title;
  return span;
}

// Search is on the loaded page of the scope (every page is loaded), so it needs no round trip.
function renderSecrets() {
  const needle = $("key-search").value.trim().toLowerCase();
  const shown = needle ? state.secrets.filter((s) => s.key.toLowerCase().includes(needle)) : state.secrets;
  const rows = shown.map((s) => {
    const tr = document.createElement("tr");
    tr.dataset.key = s.key;
    const keyCell = document.createElement("td");
    const history = document.createElement("button");
    history.type = "button"; history.className = "link-button"; history.textContent = s.key;
    history.setAttribute("aria-label", `History of ${s.key}`);
    history.addEventListener("click", () => openHistory(s));
    keyCell.append(history);
    if (s.tooShortToMask) keyCell.append(" ", badge("too short to mask", "This value is shorter than the log redactor's minimum length: it is not masked in deployment logs."));
    tr.append(keyCell, cell(s.customerOrganizationId || "vendor"), cell(String(s.version)),
      cell(s.updatedBy), cell(new Date(s.updatedAt).toLocaleString()));
    const actions = document.createElement("td");
    actions.className = "actions";
    if (canWrite()) {
      const edit = document.createElement("button");
      edit.type = "button"; edit.textContent = "Edit"; edit.setAttribute("aria-label", `Edit ${s.key}`);
      edit.addEventListener("click", () => openSecretDialog(s));
      const del = document.createElement("button");
      del.type = "button"; del.textContent = "Delete"; del.setAttribute("aria-label", `Delete ${s.key}`);
      del.addEventListener("click", () => openConfirm(s));
      actions.append(edit, " ", del);
    }
    tr.append(actions);
    return tr;
  });
  $("secrets-rows").replaceChildren(...rows);
  labelCells($("secrets-rows"));
  const total = `${state.secrets.length} secret${state.secrets.length === 1 ? "" : "s"}`;
  $("secrets-status").textContent = needle ? `${shown.length} of ${total} match “${needle}”` : total;
}

async function openHistory(secret) {
  $("history-title").textContent = `History of ${secret.key}`;
  $("history-scope").textContent = secret.customerOrganizationId ? `Customer ${secret.customerOrganizationId}` : "Vendor level";
  $("history-rows").replaceChildren();
  $("history-error").textContent = "";
  $("history-dialog").showModal();
  try {
    const detail = await api("GET", `/api/v1/secrets/${encodeURIComponent(secret.id)}`);
    $("history-rows").replaceChildren(...detail.versions.map((v) => {
      const tr = document.createElement("tr");
      tr.append(cell(String(v.version)), cell(v.createdBy), cell(new Date(v.createdAt).toLocaleString()));
      return tr;
    }));
    labelCells($("history-rows"));
  } catch (err) {
    if (ignored(err)) return;
    $("history-error").textContent = err.message;
  }
}

function warnShort(meta) {
  const box = $("short-warning");
  if (!meta.tooShortToMask) { box.hidden = true; box.textContent = ""; return; }
  box.textContent = `Saved, but the value of ${meta.key} is too short to be masked: it will appear unmasked in deployment logs. Use a longer value.`;
  box.hidden = false;
}

let editing = null;

function openSecretDialog(secret) {
  editing = secret || null;
  for (const tag of document.querySelectorAll("[data-readonly-tag]")) tag.hidden = !secret;
  $("secret-readonly-help").hidden = !secret;
  $("secret-dialog-title").textContent = secret ? `Edit ${secret.key}` : "Create Secret";
  $("secret-key").value = secret ? secret.key : "";
  $("secret-key").readOnly = Boolean(secret);
  $("secret-customer").value = secret ? secret.customerOrganizationId || "" : "";
  $("secret-customer").readOnly = Boolean(secret);
  $("secret-customer").placeholder = secret ? "vendor level" : "";
  $("secret-value").value = "";
  $("secret-key-error").textContent = "";
  $("secret-form-error").textContent = "";
  $("secret-dialog").showModal();
  (secret ? $("secret-value") : $("secret-key")).focus();
}

function checkKey() {
  if (editing) return true;
  const problem = keyProblem($("secret-key").value);
  $("secret-key-error").textContent = problem ? `invalid key: ${problem}` : "";
  $("secret-key").setAttribute("aria-invalid", problem ? "true" : "false");
  return !problem;
}

async function saveSecret(event) {
  event.preventDefault();
  if (!checkKey()) return;
  const value = $("secret-value").value;
  $("secret-form-error").textContent = "";
  try {
    if (editing) {
      const updated = await api("PUT", `/api/v1/secrets/${editing.id}`, { value, expectedVersion: editing.version });
      warnShort(updated);
      const affected = updated.affectedDeployments || [];
      toast(affected.length
        ? `Saved version ${updated.version}. Still rendered with the old value until redeployed: ${affected.map((a) => `${a.deploymentId} rev ${a.revision}`).join(", ")}`
        : `Saved version ${updated.version}.`);
    } else {
      const body = { key: $("secret-key").value, value };
      const customer = $("secret-customer").value.trim();
      if (customer && !isCustomer()) body.customerOrganizationId = customer;
      warnShort(await api("POST", "/api/v1/secrets", body));
      toast(`Created ${body.key}.`);
    }
    $("secret-value").value = "";  // never keep the value around
    $("secret-dialog").close();
    loadSecrets();
  } catch (err) {
    if (ignored(err)) return;
    $("secret-form-error").textContent = err.message;
  }
}

let deleting = null;

async function openConfirm(secret) {
  deleting = { secret, force: false };
  $("confirm-text").textContent = `Delete ${secret.key}${secret.customerOrganizationId ? " of " + secret.customerOrganizationId : ""}? This cannot be undone.`;
  $("confirm-affected").replaceChildren();
  $("confirm-error").textContent = "";
  $("confirm-ok").textContent = "Delete";
  $("confirm-dialog").showModal();
  $("confirm-cancel").focus();
}

async function confirmDelete() {
  const { secret, force } = deleting;
  try {
    await api("DELETE", `/api/v1/secrets/${secret.id}${force ? "?force=true" : ""}`);
    $("confirm-dialog").close();
    toast(`Deleted ${secret.key}.`);
    loadSecrets();
  } catch (err) {
    if (ignored(err)) return;
    if (err.status === 409 && err.details.affectedDeployments) {
      const list = $("confirm-affected");
      list.replaceChildren(...err.details.affectedDeployments.map((a) => {
        const li = document.createElement("li");
        li.textContent = `${a.deploymentId} revision ${a.revision} (version ${a.version})`;
        return li;
      }));
      $("confirm-error").textContent = "These live deployments use this secret. Delete anyway?";
      $("confirm-ok").textContent = "Delete anyway";
      deleting.force = true;
    } else {
      $("confirm-error").textContent = err.message;
    }
  }
}

// ---- template check ----
// Go counts columns as 0-based bytes; people count 1-based characters. Unknown parts are left out.
function position(error, body) {
  const text = error.file === "valuesYaml" ? body.valuesYaml : body.envFile;
  let where = error.file;
  if (!Number.isInteger(error.line) || error.line < 1) return where;
  where += `:${error.line}`;
  if (!Number.isInteger(error.column) || error.column < 0) return where;
  const line = (text || "").split("\n")[error.line - 1];
  if (line === undefined) return `${where}:${error.column + 1}`;
  const bytes = new TextEncoder().encode(line).slice(0, error.column);
  return `${where}:${new TextDecoder().decode(bytes).replace(/\uFFFD$/, "").length + 1}`;
}

async function checkTemplates(event) {
  event.preventDefault();
  const body = {};
  if ($("env-input").value) body.envFile = $("env-input").value;
  if ($("values-input").value) body.valuesYaml = $("values-input").value;
  const customer = $("template-customer").value.trim();
  if (customer) body.customerOrganizationId = customer;
  const out = $("template-result");
  out.replaceChildren();
  try {
    const result = await api("POST", "/api/v1/templates/validate", body);
    const head = document.createElement("p");
    head.textContent = result.valid ? "Valid: every reference resolves." : `${result.errors.length} problem(s) found.`;
    head.className = result.valid ? "status" : "error";
    out.append(head);
    if (result.errors.length) {
      const list = document.createElement("ul");
      list.className = "issues";
      for (const e of result.errors) {
        const li = document.createElement("li");
        li.textContent = `${position(e, body)}: ${e.message}`;
        list.append(li);
      }
      out.append(list);
    }
    const meta = document.createElement("p");
    meta.className = "status";
    meta.textContent = `References: ${result.references.join(", ") || "none"} · Missing: ${result.missing.join(", ") || "none"}`;
    out.append(meta);
  } catch (err) {
    if (ignored(err)) return;
    const p = document.createElement("p");
    p.className = "error";
    p.textContent = err.message;
    out.append(p);
  }
}

// ---- logs ----
function logLine(record) {
  return `${record.timestamp} ${record.severity || ""} ${record.body}`;
}

async function showLogs(event, older) {
  if (event) event.preventDefault();
  const dep = $("deployment-input").value.trim();
  if (!dep) return;
  const params = new URLSearchParams({ limit: "200" });
  if (older && state.logs.dep === dep && state.logs.first) params.set("before", String(state.logs.first));
  try {
    const page = await api("GET", `/api/v1/deployments/${encodeURIComponent(dep)}/logs?${params}`);
    const text = page.items.map((e) => logLine(e.record)).join("\n");
    const out = $("logs-output");
    out.textContent = older && state.logs.dep === dep ? text + (text ? "\n" : "") + out.textContent : text;
    state.logs.dep = dep;
    if (page.items.length) {
      state.logs.first = page.items[0].sequence;
      if (!older) state.logs.last = page.items[page.items.length - 1].sequence;
    }
    $("logs-status").textContent = `${page.items.length} line(s)`;
  } catch (err) {
    if (ignored(err)) return;
    $("logs-status").textContent = err.message;
  }
}

async function toggleTail() {
  const button = $("logs-tail");
  if (state.logs.tail) {
    state.logs.tail.abort();
    state.logs.tail = null;
    button.setAttribute("aria-pressed", "false");
    return;
  }
  const dep = $("deployment-input").value.trim();
  if (!dep) return;
  const controller = new AbortController();
  const session = state.session;
  state.logs.tail = controller;
  button.setAttribute("aria-pressed", "true");
  try {
    // fetch, not EventSource: EventSource cannot send the Authorization header.
    const resp = await fetch(`/api/v1/deployments/${encodeURIComponent(dep)}/logs/stream`,
      { headers: { Authorization: `Bearer ${state.token}` }, signal: controller.signal });
    if (!resp.ok) throw new ApiError(resp.status, await resp.json().catch(() => null));
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done || session !== state.session) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        if (event.startsWith("data: ")) {
          const out = $("logs-output");
          out.textContent += (out.textContent ? "\n" : "") + logLine(JSON.parse(event.slice(6)));
          out.scrollTop = out.scrollHeight;
        }
      }
    }
  } catch (err) {
    if (err.name !== "AbortError" && !ignored(err)) $("logs-status").textContent = err.message;
  } finally {
    if (session === state.session) state.logs.tail = null;
    button.setAttribute("aria-pressed", "false");
  }
}

async function exportLogs() {
  const dep = $("deployment-input").value.trim();
  if (!dep) return;
  const session = state.session;
  const resp = await fetch(`/api/v1/deployments/${encodeURIComponent(dep)}/logs/export`,
    { headers: { Authorization: `Bearer ${state.token}` } });
  if (session !== state.session) return;
  if (!resp.ok) { $("logs-status").textContent = `Export failed (HTTP ${resp.status})`; return; }
  const blob = await resp.blob();
  if (session !== state.session) return;
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url; link.download = `${dep}.log`;
  document.body.append(link); link.click(); link.remove();
  URL.revokeObjectURL(url);
}

// ---- audit ----
// Value uses (renders, validations) name several keys, each with its scope and rendered version.
function auditKeys(e) {
  if (!e.keys) return e.key || "-";
  const names = e.keys.map((k) => `${k.key}${k.customerOrganizationId ? ` (${k.customerOrganizationId})` : ""}${k.version ? ` v${k.version}` : ""}`);
  const where = e.deploymentId ? `deployment ${e.deploymentId}${e.revision ? ` rev ${e.revision}` : ""}: ` : "";
  return where + (names.join(", ") || "none");
}
async function loadAudit(event) {
  if (event) event.preventDefault();
  const params = new URLSearchParams({ limit: "500" });
  for (const [id, name] of [["audit-key", "key"], ["audit-actor", "actor"], ["audit-action", "action"]]) {
    if ($(id).value) params.set(name, $(id).value);
  }
  try {
    const page = await api("GET", `/api/v1/audit?${params}`);
    $("audit-rows").replaceChildren(...page.items.slice().reverse().map((e) => {
      const tr = document.createElement("tr");
      tr.append(cell(new Date(e.at).toLocaleString()), cell(e.actorId), cell(e.action), cell(auditKeys(e)),
        cell(e.customerOrganizationId || "vendor"), cell(e.version ?? "-"),
        cell(e.outcome + (e.errorCode ? ` (${e.errorCode})` : "")));
      return tr;
    }));
    labelCells($("audit-rows"));
  } catch (err) {
    if (ignored(err)) return;
    toast(err.message);
  }
}

// ---- wiring ----
document.addEventListener("DOMContentLoaded", () => {
  $("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    try { signIn($("token-input").value.trim()); $("token-input").value = ""; }
    catch (err) { $("signin-error").textContent = err instanceof TokenError ? err.message : "That is not a valid token."; }
  });
  $("signout").addEventListener("click", () => signOut());
  $("create-secret").addEventListener("click", () => openSecretDialog(null));
  $("secret-key").addEventListener("input", checkKey);
  $("secret-form").addEventListener("submit", saveSecret);
  $("secret-cancel").addEventListener("click", () => { $("secret-value").value = ""; $("secret-dialog").close(); });
  $("confirm-cancel").addEventListener("click", () => $("confirm-dialog").close());
  $("confirm-ok").addEventListener("click", confirmDelete);
  $("apply-filter").addEventListener("click", loadSecrets);
  $("scope-filter").addEventListener("change", () => { if ($("scope-filter").value !== "customer") $("customer-filter").value = ""; loadSecrets(); });
  $("key-search").addEventListener("input", renderSecrets);
  $("template-form").addEventListener("submit", checkTemplates);
  $("logs-form").addEventListener("submit", (e) => showLogs(e, false));
  $("logs-older").addEventListener("click", () => showLogs(null, true));
  $("logs-tail").addEventListener("click", toggleTail);
  $("logs-export").addEventListener("click", exportLogs);
  $("audit-form").addEventListener("submit", loadAudit);
  window.addEventListener("hashchange", () => { if (state.token) route(); });
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) {
    try { signIn(saved); return; } catch (err) {
      signOut(err instanceof TokenError ? err.message : "");
      return;
    }
  }
  signOut();
});
