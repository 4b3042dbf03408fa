// The search form: frames by cameras, classes, time range and minimum score, as thumbnails
// (β = 1) with their boxes; click one: the frame view.
import { api, imageUrl, query } from "./api.js";
import { el, time } from "./format.js";
import { drawBoxes, picture } from "./picture.js";

let nextToken = "";
let lastParams = null;

function params(form) {
  const data = new FormData(form);
  const localTime = (v) => (v ? String(Date.parse(v) * 1000) : ""); // the browser's zone
  return {
    cameras: data.get("cameras").trim(),
    classes: data.get("classes").trim(),
    start_time: localTime(data.get("start_time")),
    end_time: localTime(data.get("end_time")),
    min_score: data.get("min_score"),
    page_size: 60,
  };
}

function thumbnail(f) {
  const pic = picture();
  pic.img.addEventListener("load", () => {
    drawBoxes(pic.svg, f.width, f.height, f.result.detections);
  });
  pic.img.src = imageUrl(f.camera_id, f.seq);
  pic.img.loading = "lazy";
  pic.box.addEventListener("click", () => {
    location.hash = `#/frame/${encodeURIComponent(f.camera_id)}/${f.seq}`;
  });
  const labels = [...new Set(f.result.detections.map((d) => d.label))].join(", ");
  return el(
    "div",
    { class: "card result", "data-camera": f.camera_id, "data-seq": String(f.seq) },
    pic.box,
    el("div", { class: "facts" }, `${f.camera_id} #${f.seq} · ${time(f.capture_time_us)}`),
    el("div", { class: "facts" }, labels || "no detections"),
  );
}

async function run(more) {
  const results = document.getElementById("results");
  const error = document.getElementById("search-error");
  const count = document.getElementById("search-count");
  error.textContent = "";
  if (!more) results.replaceChildren();
  try {
    const page = await api(
      `/api/frames?${query({ ...lastParams, page_token: more ? nextToken : "" })}`,
    );
    results.append(...page.frames.map(thumbnail));
    nextToken = page.next_page_token;
    document.getElementById("search-more").hidden = !nextToken;
    count.textContent = `${results.children.length} frame(s)${nextToken ? " so far" : ""}`;
    results.setAttribute("data-done", "true");
  } catch (e) {
    error.textContent = e.field ? `${e.field}: ${e.message}` : e.message;
    count.textContent = "";
  }
}

export function initSearch() {
  const form = document.getElementById("search-form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    document.getElementById("results").removeAttribute("data-done");
    lastParams = params(form);
    run(false);
  });
  document.getElementById("search-more").addEventListener("click", () => run(true));
}
