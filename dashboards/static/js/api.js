// The API client: the token from sessionStorage as a bearer token on every request; errors as
// ApiError with the HTTP status and the API's message.

const KEY = "chargegrid.token";
export const API = "/api/v1";

export class ApiError extends Error {
  constructor(status, message, detail) {
    super(message);
    this.status = status;
    this.detail = detail;
  }
}

export function token() {
  return sessionStorage.getItem(KEY);
}

export function setToken(value) {
  if (value) sessionStorage.setItem(KEY, value);
  else sessionStorage.removeItem(KEY);
}

// A token handed over in the fragment (#token=...): browsers never send the fragment to the
// server; keep it for this tab only and take it out of the address bar and history.
export function takeTokenFromFragment() {
  const hash = window.location.hash;
  if (!hash.startsWith("#token=")) return false;
  const value = decodeURIComponent(hash.slice("#token=".length).split("&")[0]);
  setToken(value.trim());
  history.replaceState(null, "", window.location.pathname + window.location.search + "#/");
  return true;
}

function message(status, body) {
  const detail = body && body.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail.map((d) => `${(d.loc || []).slice(1).join(".") || "request"}: ${d.msg}`).join("; ");
  }
  return `HTTP ${status}`;
}

export async function request(path, { method = "GET", body, headers = {}, raw = false, signal } = {}) {
  const init = { method, headers: { ...headers }, signal, cache: "no-store" };
  const t = token();
  if (t) init.headers.Authorization = `Bearer ${t}`;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(API + path, init);
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(0, "the server cannot be reached", null);
  }
  if (raw && response.ok) return response;
  let data = null;
  const type = response.headers.get("Content-Type") || "";
  if (type.includes("json")) {
    try { data = await response.json(); } catch (e) { data = null; }
  }
  if (!response.ok) {
    const err = new ApiError(response.status, message(response.status, data), data && data.detail);
    if (response.status === 401) window.dispatchEvent(new CustomEvent("cg-unauthorized", { detail: err }));
    throw err;
  }
  return data;
}

export const get = (path, opts) => request(path, opts);
export const post = (path, body, opts = {}) => request(path, { ...opts, method: "POST", body });
export const del = (path, opts = {}) => request(path, { ...opts, method: "DELETE" });

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === "") continue;
    if (Array.isArray(v)) v.forEach((x) => q.append(k, x));
    else q.append(k, v);
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}
