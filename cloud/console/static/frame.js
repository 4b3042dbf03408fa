// The frame view: the picture at β (slider 0 … 1; β < 1 may pull the enhancement layer from
// the camera's edge), its boxes and labels, α / bpp / capture time, a PNG download.
import { ApiError, api, imageUrl } from "./api.js";
import { el, facts, num, time } from "./format.js";
import { drawBoxes, picture } from "./picture.js";

const view = picture("large");
let current = null; // the frame's JSON
let objectUrl = null;
let requested = 0; // the latest request wins

function digest(bytes) { // FNV-1a: tells pictures apart (tests, the title attribute)
  let h = 0x811c9dc5;
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h.toString(16);
}

async function loadPicture(beta) {
  const ticket = ++requested;
  const source = document.getElementById("frame-source");
  const error = document.getElementById("frame-error");
  error.textContent = "";
  source.textContent = beta < 1 ? "loading (may ask the edge for the enhancement layer)…" : "loading…";
  view.box.setAttribute("data-loading", "true");
  const response = await fetch(imageUrl(current.camera_id, current.seq, beta), {
    credentials: "same-origin",
  });
  if (ticket !== requested) return;
  view.box.removeAttribute("data-loading");
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    const e = new ApiError(response.status, body);
    error.textContent = e.message;
    source.textContent = "";
    if (response.status === 401) window.dispatchEvent(new CustomEvent("polc:unauthenticated"));
    return;
  }
  const blob = await response.blob();
  const bytes = new Uint8Array(await blob.arrayBuffer());
  if (objectUrl) URL.revokeObjectURL(objectUrl);
  objectUrl = URL.createObjectURL(blob);
  view.img.src = objectUrl;
  const fetched = response.headers.get("X-Polc-Enhancement-Fetched") === "true";
  const enhBpp = Number(response.headers.get("X-Polc-Enhancement-Bpp") || 0);
  source.textContent =
    beta >= 1
      ? "base layer only (β = 1)"
      : fetched
        ? "enhancement layer pulled from the edge for this view"
        : "enhancement layer from the store";
  view.box.setAttribute("data-beta", String(beta));
  view.box.setAttribute("data-fetched", String(fetched));
  view.box.setAttribute("data-digest", digest(bytes));
  const download = document.getElementById("frame-download");
  download.href = objectUrl;
  download.download = `${current.camera_id}-${current.seq}-beta${beta}.png`;
  renderFacts(beta, enhBpp);
}

function renderFacts(beta, enhBpp) {
  const f = current;
  facts(document.getElementById("frame-facts"), [
    ["camera", f.camera_id],
    ["seq", f.seq],
    ["captured", time(f.capture_time_us)],
    ["received", time(f.received_time_us)],
    ["size", `${f.width} × ${f.height}`],
    ["α", num(f.alpha, 3)],
    ["β", num(beta, 2)],
    ["base", `${num(f.base_bpp)} bpp`],
    ["enhancement", beta < 1 ? `${num(enhBpp)} bpp` : "not used"],
    ["analyzer", f.result.analyzer || (f.analysis_pending ? "pending" : "–")],
  ]);
}

export async function showFrame(camera, seq) {
  const title = document.getElementById("frame-title");
  const holder = document.getElementById("frame-picture");
  if (!holder.contains(view.box)) holder.replaceChildren(view.box);
  document.getElementById("frame-error").textContent = "";
  try {
    current = await api(`/api/frames/${encodeURIComponent(camera)}/${seq}`);
  } catch (e) {
    title.textContent = `${camera} #${seq}`;
    document.getElementById("frame-error").textContent = e.message;
    return;
  }
  title.textContent = `${current.camera_id} #${current.seq}`;
  const slider = document.getElementById("beta");
  slider.value = "1";
  document.getElementById("beta-value").textContent = "1";
  drawBoxes(view.svg, current.width, current.height, current.result.detections);
  document.getElementById("frame-detections").replaceChildren(
    ...current.result.detections.map((d) =>
      el("li", {}, `${d.label} ${num(d.score, 2)} [${d.box.map((v) => Math.round(v)).join(", ")}]`),
    ),
  );
  const cam = encodeURIComponent(current.camera_id);
  document.getElementById("frame-prev").href = `#/frame/${cam}/${Math.max(0, current.seq - 1)}`;
  document.getElementById("frame-next").href = `#/frame/${cam}/${current.seq + 1}`;
  await loadPicture(1);
}

export function initFrame() {
  const slider = document.getElementById("beta");
  slider.addEventListener("input", () => {
    document.getElementById("beta-value").textContent = slider.value;
  });
  slider.addEventListener("change", () => {
    if (current) loadPicture(Number(slider.value));
  });
}
