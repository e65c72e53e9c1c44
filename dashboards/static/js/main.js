// The dashboard shell: sign-in, navigation by the URL fragment (#/sites/depot, ...), the
// pages, and the error pages (a refused token, a site not granted, an unknown station).

import { ApiError, get, setToken, takeTokenFromFragment, token } from "./api.js";
import { clear, el, setText, fill } from "./dom.js";
import * as overview from "./pages/overview.js";
import * as site from "./pages/site.js";
import * as constraint from "./pages/constraint.js";
import * as stations from "./pages/stations.js";
import * as station from "./pages/station.js";
import * as sessions from "./pages/sessions.js";
import * as session from "./pages/session.js";
import * as reports from "./pages/reports.js";

const ROUTES = [
  [/^\/$/, overview, "overview"],
  [/^\/sites\/([^/]+)$/, site, "overview"],
  [/^\/sites\/([^/]+)\/constraint$/, constraint, "overview"],
  [/^\/stations$/, stations, "stations"],
  [/^\/stations\/([^/]+)$/, station, "stations"],
  [/^\/sessions$/, sessions, "sessions"],
  [/^\/sessions\/([^/]+)$/, session, "sessions"],
  [/^\/reports$/, reports, "reports"],
];

const NAV = [
  ["overview", "#/", "Overview", null],
  ["stations", "#/stations", "Stations", "stations:read"],
  ["sessions", "#/sessions", "Sessions", "transactions:read"],
  ["reports", "#/reports", "Reports", "transactions:read"],
];

const main = document.getElementById("main");
const live = document.getElementById("live");
let current = null; // cleanup of the page shown
let ctx = null;
let signInMessage = "";

function setLive(state) {
  live.dataset.state = state;
  setText(live, state === "live" ? "Live" : state === "idle" ? "Not live" : "Reconnecting…");
}

async function loadContext() {
  const me = await get("/me");
  const sites = me.permissions.includes("sites:read") ? await get("/sites") : [];
  const byId = new Map(sites.map((s) => [s.id, s]));
  return {
    me,
    sites: byId,
    main,
    setLive,
    can: (permission) => me.permissions.includes(permission),
    timeZone: (siteId) => (byId.get(siteId) || {}).timezone || "UTC",
  };
}

function renderNav(active) {
  const nav = clear(document.getElementById("nav"));
  if (!ctx) return;
  for (const [key, href, label, permission] of NAV) {
    if (permission && !ctx.can(permission)) continue;
    nav.append(el("li", {}, el("a", { href, "aria-current": key === active ? "page" : null, text: label })));
  }
  const who = document.getElementById("who");
  setText(who, `${ctx.me.name} · ${ctx.me.role.replace("_", " ")}`);
  document.getElementById("signout").hidden = false;
}

function signOut(messageText) {
  if (current) { try { current(); } catch (e) { /* page already gone */ } current = null; }
  setToken(null);
  ctx = null;
  signInMessage = messageText || "";
  clear(document.getElementById("nav"));
  setText(document.getElementById("who"), "");
  document.getElementById("signout").hidden = true;
  live.dataset.state = "down";
  setText(live, "Not connected");
  if (window.location.hash !== "#/signin") history.replaceState(null, "", "#/signin");
  showSignIn();
}

function showSignIn() {
  document.title = "Sign in – chargegrid dashboard";
  const input = el("input", { id: "token", name: "token", type: "password", autocomplete: "off", required: true, "aria-describedby": "token-hint" });
  const form = el(
    "form",
    { class: "signin", onsubmit: async (e) => { e.preventDefault(); setToken(input.value.trim()); signInMessage = ""; await start("#/"); } },
    el("div", { class: "field" }, el("label", { for: "token", text: "API token" }), input,
      el("p", { id: "token-hint", class: "hint", text: "A token from `chargegrid api-token create` (cgk_…). It is kept in this browser tab only." })),
    el("button", { type: "submit", text: "Sign in" }),
  );
  fill(main, 
    el("h1", { text: "Sign in" }),
    signInMessage ? el("p", { class: "notice", role: "alert", text: signInMessage }) : null,
    form,
  );
  input.focus();
}

function errorPage(error) {
  let title = "Something went wrong";
  let text = error && error.message ? error.message : String(error);
  if (error instanceof ApiError) {
    if (error.status === 403) title = "Not allowed";
    else if (error.status === 404) title = "Not found";
    else if (error.status === 0) title = "The server cannot be reached";
    else if (error.status === 422) title = "That request is not valid";
    else if (error.status === 503) title = "The server is busy";
  }
  document.title = `${title} – chargegrid dashboard`;
  fill(main, 
    el("h1", { tabindex: "-1", text: title }),
    el("p", { class: "notice", role: "alert", text }),
    el("p", {}, el("a", { href: "#/", text: "Back to the overview" })),
  );
  main.querySelector("h1").focus();
}

async function route() {
  if (takeTokenFromFragment()) { await start("#/"); return; }
  if (!token()) { signOut(signInMessage); return; }
  if (!ctx) { await start(window.location.hash || "#/"); return; }
  const path = (window.location.hash || "#/").slice(1) || "/";
  if (current) { try { current(); } catch (e) { /* ignore */ } current = null; }
  const match = ROUTES.map(([re, page, nav]) => [path.match(re), page, nav]).find(([m]) => m);
  if (!match) {
    renderNav(null);
    errorPage(new ApiError(404, `There is no page "${path}" in the dashboard.`));
    return;
  }
  const [m, page, nav] = match;
  renderNav(nav);
  setLive("idle");
  fill(main, el("p", { role: "status", text: "Loading…" }));
  try {
    const params = m.slice(1).map(decodeURIComponent);
    current = await page.render(ctx, ...params);
    window.cgReady = { path, ms: performance.now() }; // for the load-time benchmark
    const heading = main.querySelector("h1");
    if (heading) {
      heading.setAttribute("tabindex", "-1");
      document.title = `${heading.textContent} – chargegrid dashboard`;
      if (document.activeElement === document.body || document.activeElement === main || !main.contains(document.activeElement)) heading.focus();
    }
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return; // signed out already
    errorPage(error);
  }
}

async function start(hash) {
  try {
    ctx = await loadContext();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return; // the sign-in page is shown
    ctx = null;
    errorPage(error);
    return;
  }
  if (window.location.hash !== hash && hash !== "#/signin") { window.location.hash = hash; return; }
  if (hash === "#/signin") { window.location.hash = "#/"; return; }
  await route();
}

window.addEventListener("cg-unauthorized", (e) => {
  const reason = e.detail && e.detail.message ? e.detail.message : "the token was refused";
  signOut(`Your token was refused (${reason}). Sign in with a valid token.`);
});
window.addEventListener("hashchange", route);
document.getElementById("signout").addEventListener("click", () => signOut("You signed out."));
document.getElementById("skip").addEventListener("click", (e) => { e.preventDefault(); main.focus(); });
route();
