// A frame's picture with its detections drawn over it (SVG in the frame's pixel space).
import { el } from "./format.js";

const SVG = "http://www.w3.org/2000/svg";

export function picture(extraClass = "") {
  const img = el("img", { alt: "" });
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("preserveAspectRatio", "none");
  const box = el("div", { class: `picture ${extraClass}`.trim() }, img, svg);
  return { box, img, svg };
}

export function drawBoxes(svg, width, height, detections) {
  if (width && height) svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.replaceChildren();
  const size = Math.max(4, (height || 100) / 18); // labels scale with the picture
  for (const d of detections || []) {
    const [x0, y0, x1, y1] = d.box;
    const rect = document.createElementNS(SVG, "rect");
    rect.setAttribute("x", x0);
    rect.setAttribute("y", y0);
    rect.setAttribute("width", Math.max(0, x1 - x0));
    rect.setAttribute("height", Math.max(0, y1 - y0));
    rect.setAttribute("class", "box");
    rect.setAttribute("data-label", d.label);
    const text = document.createElementNS(SVG, "text");
    text.setAttribute("x", x0 + size / 5);
    text.setAttribute("y", Math.max(size, y0 - size / 5));
    text.setAttribute("font-size", size);
    text.setAttribute("stroke-width", size / 5);
    text.textContent = `${d.label} ${Math.round(d.score * 100)}%`;
    svg.append(rect, text);
  }
  svg.setAttribute("data-boxes", String((detections || []).length));
}
