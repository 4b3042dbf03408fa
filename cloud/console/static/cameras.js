// The camera grid: each camera's latest frame (β = 1) with its boxes, bpp and kbit/s, and a
// timeline of its events (click a marker: the event's best frame). Live updates arrive from
// main.js (Server-Sent Events); the picture follows at most once a second.
import { api, imageUrl, query } from "./api.js";
import { el, num, time } from "./format.js";
import { drawBoxes, picture } from "./picture.js";

const cards = new Map(); // camera id -> card state
const RATE_WINDOW_US = 10e6; // kbit/s over the last 10 s of capture time
const TIMELINE_US = 3600e6; // the timeline shows the last hour of each camera
const MAX_MARKERS = 300;

function card(camera) {
  let c = cards.get(camera);
  if (c) return c;
  const pic = picture();
  const dot = el("span", { class: "dot" });
  const facts = el("div", { class: "facts" });
  const timeline = el("div", { class: "timeline", title: "events (last hour)" });
  const root = el(
    "div",
    { class: "card camera", "data-camera": camera },
    el("h3", {}, dot, camera),
    pic.box,
    facts,
    timeline,
  );
  c = {
    root, pic, dot, facts, timeline,
    latest: null, // {seq, capture_time_us, width, height, result, base_bpp, alpha}
    shownSeq: null,
    rate: [], // [capture_time_us, bytes] of recent frames
    kbps: null,
    events: new Map(),
    first: null,
    last: null,
  };
  pic.box.addEventListener("click", () => {
    if (c.latest) location.hash = `#/frame/${encodeURIComponent(camera)}/${c.latest.seq}`;
  });
  pic.img.addEventListener("load", () => {
    const shown = c.loading;
    if (!shown) return;
    drawBoxes(pic.svg, shown.width, shown.height, shown.result?.detections);
    c.shownSeq = shown.seq;
    root.setAttribute("data-seq", String(shown.seq));
  });
  cards.set(camera, c);
  const grid = document.getElementById("grid");
  const sorted = [...cards.keys()].sort();
  grid.insertBefore(root, grid.children[sorted.indexOf(camera)] || null);
  document.getElementById("grid-empty").hidden = true;
  return c;
}

function renderFacts(c) {
  const f = c.latest;
  c.facts.textContent = f
    ? `#${f.seq} · ${time(f.capture_time_us)} · α ${num(f.alpha, 2)} · ` +
      `${num(f.base_bpp)} bpp · ${c.kbps === null ? "–" : num(c.kbps, 1)} kbit/s`
    : "no frame yet";
}

function renderTimeline(c) {
  if (c.last === null) return;
  const end = c.last;
  const start = Math.max(c.first ?? end, end - TIMELINE_US);
  const span = Math.max(1, end - start);
  const markers = [];
  for (const e of c.events.values()) {
    if (e.end_time_us < start) continue;
    const left = ((Math.max(e.start_time_us, start) - start) / span) * 100;
    const width = ((e.end_time_us - Math.max(e.start_time_us, start)) / span) * 100;
    const b = el("button", {
      type: "button",
      title: `${e.label} ${Math.round(e.best_score * 100)}% · ${time(e.start_time_us)} (${e.state})`,
      "data-event": e.id,
      "data-label": e.label,
    });
    b.style.left = `${Math.min(99, left)}%`;
    b.style.width = `${Math.max(0.5, width)}%`;
    b.addEventListener("click", () => {
      location.hash = `#/frame/${encodeURIComponent(e.camera_id)}/${e.best_seq}`;
    });
    markers.push(b);
  }
  c.timeline.replaceChildren(...markers);
}

function showLatest(c) {
  const f = c.latest;
  if (!f || f.seq === c.shownSeq || c.loading?.seq === f.seq) return;
  c.loading = f;
  c.pic.img.src = imageUrl(f.camera_id, f.seq);
}

export async function loadCameras() {
  const { cameras } = await api("/api/cameras");
  await Promise.all(cameras.map(async (info) => {
    const c = card(info.camera_id);
    c.dot.classList.toggle("on", Boolean(info.connected));
    c.kbps = info.kbps ?? null;
    if (info.frame_count) {
      c.first = info.first_capture_time_us;
      c.last = Math.max(c.last ?? 0, info.last_capture_time_us);
      const frame = await api(`/api/frames/${encodeURIComponent(info.camera_id)}/${info.last_seq}`);
      if (!c.latest || c.latest.seq <= frame.seq) c.latest = frame;
      const since = Math.max(c.first, c.last - TIMELINE_US);
      const { events } = await api(
        `/api/events?${query({ cameras: info.camera_id, start_time: since, page_size: MAX_MARKERS })}`,
      );
      for (const e of events) c.events.set(e.id, e);
    }
    renderFacts(c);
    renderTimeline(c);
    showLatest(c);
  }));
  document.getElementById("grid-empty").hidden = cards.size > 0;
}

export function liveFrame(f) {
  const c = card(f.camera_id);
  c.dot.classList.add("on");
  if (c.latest && f.seq < c.latest.seq) return;
  c.latest = f;
  c.first = c.first ?? f.capture_time_us;
  c.last = Math.max(c.last ?? 0, f.capture_time_us);
  if (f.base_bytes !== undefined) {
    c.rate.push([f.capture_time_us, f.base_bytes]);
    c.rate = c.rate.filter(([t]) => t > f.capture_time_us - RATE_WINDOW_US);
    if (c.rate.length > 1) {
      const span = (c.rate.at(-1)[0] - c.rate[0][0]) * (c.rate.length / (c.rate.length - 1));
      const bits = c.rate.reduce((s, [, b]) => s + b * 8, 0);
      if (span > 0) c.kbps = bits / (span / 1e6) / 1000;
    }
  }
  renderFacts(c);
  c.dirty = true;
}

export function liveEvent(change) {
  const e = change.event;
  const c = card(e.camera_id);
  c.events.set(e.id, e);
  if (c.events.size > MAX_MARKERS) c.events.delete(c.events.keys().next().value);
  c.dirty = true;
}

// at most one picture and timeline update per camera per second
setInterval(() => {
  for (const c of cards.values()) {
    if (!c.dirty) continue;
    c.dirty = false;
    showLatest(c);
    renderTimeline(c);
  }
}, 1000);
