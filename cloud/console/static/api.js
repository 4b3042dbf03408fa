// The JSON API: fetch with the session cookie; every refusal as an ApiError.
export class ApiError extends Error {
  constructor(status, body) {
    super(body.error || `HTTP ${status}`);
    this.status = status;
    this.reason = body.reason || "";
    this.field = body.field || null;
  }
}

export async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    const error = new ApiError(response.status, body);
    if (response.status === 401 && path !== "/api/login") {
      window.dispatchEvent(new CustomEvent("polc:unauthenticated", { detail: error }));
    }
    throw error;
  }
  return response.headers.get("Content-Type")?.startsWith("application/json")
    ? response.json()
    : response;
}

export function post(path, body) {
  return api(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
}

export function imageUrl(camera, seq, beta = 1) {
  return `/api/frames/${encodeURIComponent(camera)}/${seq}/image?beta=${beta}`;
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") q.set(key, value);
  }
  return q.toString();
}
