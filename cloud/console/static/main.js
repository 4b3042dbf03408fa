// The console: login, the views (#/cameras, #/search, #/frame/{camera}/{seq}, #/status) and
// the live stream (/api/live, Server-Sent Events) that keeps the camera grid current.
import { api, post } from "./api.js";
import { liveEvent, liveFrame, loadCameras } from "./cameras.js";
import { initFrame, showFrame } from "./frame.js";
import { initSearch } from "./search.js";
import { showStatus } from "./status.js";

let live = null;

function show(view) {
  for (const section of document.querySelectorAll("main > .view")) {
    section.hidden = section.id !== view;
  }
  for (const a of document.querySelectorAll("#nav a")) {
    a.classList.toggle("active", a.dataset.view === view);
  }
  document.body.setAttribute("data-view", view);
}

function showLogin(message = "") {
  if (live) { live.close(); live = null; }
  document.getElementById("nav").hidden = true;
  document.getElementById("logout").hidden = true;
  document.getElementById("who").textContent = "";
  document.getElementById("login-error").textContent = message;
  show("login");
  document.getElementById("login-token").focus();
}

function connectLive() {
  if (live) return;
  live = new EventSource("/api/live");
  live.addEventListener("frame", (m) => liveFrame(JSON.parse(m.data)));
  live.addEventListener("event", (m) => liveEvent(JSON.parse(m.data)));
  live.addEventListener("dropped", () => loadCameras().catch(() => {})); // it reconnects
  live.addEventListener("open", () => document.body.setAttribute("data-live", "open"));
}

async function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  try {
    if (parts[0] === "frame" && parts.length === 3) {
      show("frame");
      await showFrame(parts[1], parts[2]);
    } else if (parts[0] === "search") {
      show("search");
    } else if (parts[0] === "status") {
      show("status");
      await showStatus();
    } else {
      show("cameras");
      await loadCameras();
    }
  } catch (e) {
    if (e.status !== 401) console.error(e);
  }
}

async function start() {
  try {
    const me = await api("/api/me");
    document.getElementById("who").textContent = me.auth ? `${me.name} (${me.role})` : "auth off";
    document.getElementById("logout").hidden = !me.auth;
  } catch (e) {
    if (e.status === 401 || e.status === 403) return showLogin(e.status === 403 ? e.message : "");
    throw e;
  }
  document.getElementById("nav").hidden = false;
  connectLive();
  await route();
}

window.addEventListener("polc:unauthenticated", () => showLogin("Your session ended: log in again."));
window.addEventListener("hashchange", () => {
  if (document.body.getAttribute("data-view") !== "login") route();
});

document.getElementById("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = document.getElementById("login-token");
  try {
    await post("/api/login", { token: input.value });
    input.value = "";
    await start();
  } catch (e) {
    input.value = "";
    document.getElementById("login-error").textContent =
      e.status === 403 ? `Refused: ${e.message}` : `Not logged in: ${e.message}`;
  }
});

document.getElementById("logout").addEventListener("click", async () => {
  await post("/api/logout", {}).catch(() => {});
  showLogin("Logged out.");
});

initSearch();
initFrame();
start();
