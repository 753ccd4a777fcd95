import { afterEach, describe, expect, it } from "vitest";
import { SyncController } from "./sync.svelte.js";
import { ipc, reset } from "../test/fixtures";

afterEach(reset);

const off = {
  connection: "off",
  summary: "Sync is off: no server configured",
  server_url: null,
  token_store: null,
  warnings: [],
  queue_length: 4,
  rejected: 0,
  last_attempt_at: null,
  last_success_at: null,
  last_error: null,
  last_error_code: null,
  errors: [],
};

describe("sync", () => {
  it("shows that sync is off and what waits", async () => {
    ipc({ sync_status: () => off });
    const s = new SyncController();
    await s.load();
    expect(s.status?.summary).toBe("Sync is off: no server configured");
    expect(s.status?.queue_length).toBe(4);
  });

  it("retries now and shows the server's own message", async () => {
    const calls = ipc({
      sync_retry: () => ({ ...off, connection: "failing", summary: "The last attempt failed", last_error: "HTTP 403: token expired", errors: [{ device_id: "d1", message: "unknown device type", at: "2026-11-26T10:00:00Z" }] }),
    });
    const s = new SyncController();
    await s.retry();
    expect(calls[0].cmd).toBe("sync_retry");
    expect(s.status?.last_error).toBe("HTTP 403: token expired");
    expect(s.status?.errors[0].message).toBe("unknown device type");
    expect(s.retrying).toBe(false);
  });
});
