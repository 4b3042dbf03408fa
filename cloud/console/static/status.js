// Store and fleet status.
import { api } from "./api.js";
import { bytes, facts } from "./format.js";

export async function showStatus() {
  const s = await api("/api/status");
  const retention = s.store.retention_seconds;
  facts(document.getElementById("status-store"), [
    ["backend", s.store.backend],
    ["frames", s.store.frames],
    ["stored", bytes(s.store.bytes)],
    ["retention", retention ? `${(retention / 3600).toFixed(1)} h` : "keep everything"],
    ["byte limit", s.store.max_bytes ? bytes(s.store.max_bytes) : "none"],
    ["server", s.server_id],
  ]);
  facts(document.getElementById("status-fleet"), [
    ["cameras", s.fleet.cameras],
    ["connected", s.fleet.cameras_connected],
    ["connected now", s.fleet.connected.join(", ") || "none"],
  ]);
}
