// Sigil web UI: plain JavaScript over the REST API. Values go in, never come back.
"use strict";

const TOKEN_KEY = "sigil.token";
const state = { token: null, claims: null, secrets: new Map(), logs: { dep: null, first: null, last: null, tail: null } };
const $ = (id) => document.getElementById(id);

// The same rule and messages as the API (sigil_shared.ids.key_problem).
function keyProblem(key) {
  if (!key) return "key must not be empty";
  if (key.length > 256) return "key must be at most 256 characters";
  if (!/^[A-Za-z]/.test(key)) return "key must start with a letter (a-z, A-Z)";
  if (!/^[A-Za-z0-9_]*$/.test(key)) return "key may contain only ASCII letters, digits and underscores";
  return null;
}

function decodeClaims(token) {
  const part = token.split(".")[1];
  if (!part) throw new Error("not a JWT");
  const json = atob(part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "="));
  return JSON.parse(json);
}

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error && body.error.message) || `HTTP ${status}`);
    this.status = status;
    this.code = body && body.error ? body.error.code : "http_error";
    this.details = body && body.error ? body.error.details || {} : {};
  }
}

async function api(method, path, body) {
  const init = { method, headers: { Authorization: `Bearer ${state.token}` } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  if (resp.status === 401) { signOut("Your session is no longer valid; sign in again."); throw new ApiError(401, null); }
  if (resp.status === 204) return null;
  const data = await resp.json().catch(() => null);
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
  route();
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = null;
  state.claims = null;
  $("app").hidden = true;
  $("signin").hidden = false;
  $("signin-error").textContent = message || "";
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

async function loadSecrets() {
  const status = $("secrets-status");
  const filter = $("customer-filter").value.trim();
  const rows = $("secrets-rows");
  status.textContent = "Loading…";
  try {
    const items = [];
    let cursor = null;
    do {
      const params = new URLSearchParams({ limit: "1000" });
      if (filter && !isCustomer()) params.set("customerOrganizationId", filter);
      if (cursor) params.set("cursor", cursor);
      const page = await api("GET", `/api/v1/secrets?${params}`);
      items.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
    rows.replaceChildren();
    state.secrets.clear();
    for (const s of items) {
      state.secrets.set(s.id, s);
      const tr = document.createElement("tr");
      tr.dataset.key = s.key;
      tr.append(cell(s.key), cell(s.customerOrganizationId || "vendor"), cell(String(s.version)),
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
      rows.append(tr);
    }
    status.textContent = `${items.length} secret${items.length === 1 ? "" : "s"}`;
  } catch (err) {
    status.textContent = err.message;
  }
}

let editing = null;

function openSecretDialog(secret) {
  editing = secret || null;
  $("secret-dialog-title").textContent = secret ? `Edit ${secret.key}` : "Create Secret";
  $("secret-key").value = secret ? secret.key : "";
  $("secret-key").readOnly = Boolean(secret);
  $("secret-customer").value = secret ? secret.customerOrganizationId || "" : "";
  $("secret-customer").readOnly = Boolean(secret);
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
      const affected = updated.affectedDeployments || [];
      toast(affected.length
        ? `Saved version ${updated.version}. Still rendered with the old value until redeployed: ${affected.map((a) => `${a.deploymentId} rev ${a.revision}`).join(", ")}`
        : `Saved version ${updated.version}.`);
    } else {
      const body = { key: $("secret-key").value, value };
      const customer = $("secret-customer").value.trim();
      if (customer && !isCustomer()) body.customerOrganizationId = customer;
      await api("POST", "/api/v1/secrets", body);
      toast(`Created ${body.key}.`);
    }
    $("secret-value").value = "";  // never keep the value around
    $("secret-dialog").close();
    loadSecrets();
  } catch (err) {
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
        li.textContent = `${e.file}:${e.line ?? "-"}:${e.column ?? "-"}: ${e.message}`;
        list.append(li);
      }
      out.append(list);
    }
    const meta = document.createElement("p");
    meta.className = "status";
    meta.textContent = `References: ${result.references.join(", ") || "none"} · Missing: ${result.missing.join(", ") || "none"}`;
    out.append(meta);
  } catch (err) {
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
      if (done) break;
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
    if (err.name !== "AbortError") $("logs-status").textContent = err.message;
  } finally {
    state.logs.tail = null;
    button.setAttribute("aria-pressed", "false");
  }
}

async function exportLogs() {
  const dep = $("deployment-input").value.trim();
  if (!dep) return;
  const resp = await fetch(`/api/v1/deployments/${encodeURIComponent(dep)}/logs/export`,
    { headers: { Authorization: `Bearer ${state.token}` } });
  if (!resp.ok) { $("logs-status").textContent = `Export failed (HTTP ${resp.status})`; return; }
  const url = URL.createObjectURL(await resp.blob());
  const link = document.createElement("a");
  link.href = url; link.download = `${dep}.log`;
  document.body.append(link); link.click(); link.remove();
  URL.revokeObjectURL(url);
}

// ---- audit ----
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
      tr.append(cell(new Date(e.at).toLocaleString()), cell(e.actorId), cell(e.action), cell(e.key || "-"),
        cell(e.customerOrganizationId || "vendor"), cell(e.version ?? "-"),
        cell(e.outcome + (e.errorCode ? ` (${e.errorCode})` : "")));
      return tr;
    }));
  } catch (err) {
    toast(err.message);
  }
}

// ---- wiring ----
document.addEventListener("DOMContentLoaded", () => {
  $("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    try { signIn($("token-input").value.trim()); $("token-input").value = ""; }
    catch { $("signin-error").textContent = "That is not a valid token."; }
  });
  $("signout").addEventListener("click", () => signOut());
  $("create-secret").addEventListener("click", () => openSecretDialog(null));
  $("secret-key").addEventListener("input", checkKey);
  $("secret-form").addEventListener("submit", saveSecret);
  $("secret-cancel").addEventListener("click", () => { $("secret-value").value = ""; $("secret-dialog").close(); });
  $("confirm-cancel").addEventListener("click", () => $("confirm-dialog").close());
  $("confirm-ok").addEventListener("click", confirmDelete);
  $("apply-filter").addEventListener("click", loadSecrets);
  $("template-form").addEventListener("submit", checkTemplates);
  $("logs-form").addEventListener("submit", (e) => showLogs(e, false));
  $("logs-older").addEventListener("click", () => showLogs(null, true));
  $("logs-tail").addEventListener("click", toggleTail);
  $("logs-export").addEventListener("click", exportLogs);
  $("audit-form").addEventListener("submit", loadAudit);
  window.addEventListener("hashchange", () => { if (state.token) route(); });
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) { try { signIn(saved); return; } catch { sessionStorage.removeItem(TOKEN_KEY); } }
  signOut();
});
