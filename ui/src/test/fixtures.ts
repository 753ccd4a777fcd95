// Test doubles for the Rust side: a mocked IPC (Tauri's own `mockIPC`) answering commands
// from a table, recording every call, with event mocking so tests can `emit` the Rust events.

import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { emit } from "@tauri-apps/api/event";
import { flushSync, mount, unmount, type Component } from "svelte";
import type { AppError, Batch, FailReason, Device, DeviceTypeInfo, FlashFinished, FlashProgress, Port, Settings, Shift } from "../lib/bindings";

export type Handler = (args: Record<string, unknown>) => unknown;
export type Call = { cmd: string; args: Record<string, unknown> };

/** Answer commands from `handlers`; an unknown command fails the test loudly. */
export function ipc(handlers: Record<string, Handler>): Call[] {
  const calls: Call[] = [];
  mockIPC(
    (cmd, args) => {
      const a = (args ?? {}) as Record<string, unknown>;
      calls.push({ cmd, args: a });
      const h = handlers[cmd];
      if (!h) throw new Error(`unexpected command ${cmd}`);
      return h(a);
    },
    { shouldMockEvents: true },
  );
  return calls;
}

let mounted: Record<string, unknown> | null = null;

/** Mount `C` into a fresh element of the page (one at a time; `reset` unmounts it). */
export function show<P extends Record<string, unknown>>(C: Component<P>, props: P): HTMLElement {
  const target = document.createElement("div");
  document.body.appendChild(target);
  mounted = mount(C, { target, props });
  flushSync();
  return target;
}

/** After each test: unmount what `show` mounted, empty the page, drop the IPC mocks. */
export function reset(): void {
  if (mounted) unmount(mounted);
  mounted = null;
  document.body.innerHTML = "";
  clearMocks();
}

/** A command failing the way the Rust side fails: the promise rejects with an AppError. */
export function fail(error: Partial<AppError> & { code: AppError["code"] }): never {
  throw { message: "failed", help: "", reason: null, action: "fix_input", ...error };
}

export async function emitProgress(p: FlashProgress): Promise<void> {
  await emit("flash-progress", p);
}

export async function emitFinished(f: FlashFinished): Promise<void> {
  await emit("flash-finished", f);
}

export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
}

export const weather: DeviceTypeInfo = {
  name: "WeatherStation",
  app_label: "myapp",
  topic_prefix: "things",
  topic_template: "{prefix}/{type_name}/{device_id}/{message_type}",
  broker_host: "localhost",
  broker_port: 1883,
  broker_tls: false,
  driver: "protocol",
  driver_settings: "{}",
};

export function port(id: string, kind: Port["kind"] = "simulated"): Port {
  return { id, kind, label: kind === "simulated" ? "Simulated device" : id, vid: null, pid: null, serial_number: null, product: null, manufacturer: null };
}

export function batch(over: Partial<Batch> = {}): Batch {
  return {
    id: 1,
    device_type: "WeatherStation",
    prefix: "farm-",
    count: 10,
    created_by: "alice",
    station_id: "line-1",
    created_at: "2026-11-26T10:00:00Z",
    flashed: 2,
    failed: 1,
    remaining: 8,
    first_device_id: "farm-weatherstation-001",
    last_device_id: "farm-weatherstation-010",
    next_device_id: "farm-weatherstation-003",
    lot: null,
    work_order: null,
    state: "open",
    ended_at: null,
    ended_by: null,
    deactivated: 0,
    ...over,
  };
}

export function device(over: Partial<Device> = {}): Device {
  return {
    device_id: "farm-weatherstation-001",
    name: "WeatherStation 001",
    device_type: "WeatherStation",
    batch_id: 1,
    status: "provisioning",
    is_active: true,
    firmware_version: "devsim-1.0",
    mqtt_username: "myapp-weatherstationdevice-farm-weatherstation-001",
    topics: { data: "things/weatherstation/x/data", status: "things/weatherstation/x/status", cmd: "things/weatherstation/x/cmd" },
    generation: 1,
    has_credentials: true,
    pending_generation: null,
    flash_state: "flashed",
    flash_error: null,
    hardware_id: "AB12CD34EF56AA01",
    flashed_at: "2026-11-26T10:05:00Z",
    rotation_due: false,
    station_id: "line-1",
    operator: "alice",
    sync_state: "pending",
    created_at: "2026-11-26T10:00:00Z",
    updated_at: "2026-11-26T10:05:00Z",
    unit_serial: null,
    lot: null,
    work_order: null,
    ...over,
  };
}

export function settings(over: Partial<Settings> = {}): Settings {
  return {
    station_name: "line-1",
    operator: "alice",
    hash_algorithm: "argon2",
    hash_algorithm_default: "argon2",
    server_url: "",
    server_token_store: null,
    server_warnings: [],
    sounds: false,
    auto_flash: false,
    sim_ports: 1,
    sim_fault: "none",
    sim_faults: ["none", "unplugged_during_write", "refuses_to_save", "no_answer", "noisy_line"],
    database_path: "/tmp/station.sqlite3",
    language: "en",
    theme: "light",
    ...over,
  };
}

export const shift: Shift = { started_at: "2026-11-26T06:00:00Z", passed: 3, failed: 1, per_hour: 42 };

export function passed(port: string, jobId: number, d: Device = device()): FlashFinished {
  return {
    job_id: jobId,
    port,
    elapsed_ms: 1234,
    result: { outcome: "passed", device: d, hardware_id: d.hardware_id ?? "", firmware_version: "devsim-1.0", rotated: false, recovered: [], hook_error: null, unit_link: null },
  };
}

export function failed(port: string, jobId: number, reason: FailReason = "timeout"): FlashFinished {
  return {
    job_id: jobId,
    port,
    elapsed_ms: 900,
    result: {
      outcome: "failed",
      device_id: "farm-weatherstation-004",
      error: { code: "device", message: "The device did not answer (while identifying it).", help: "try again", reason, action: "retry" },
    },
  };
}

/** The commands the Station screen loads, answered with a typical station. */
export function stationHandlers(over: Record<string, Handler> = {}): Record<string, Handler> {
  let job = 0;
  return {
    list_types: () => [weather],
    list_batches: () => [batch()],
    list_ports: () => [port("/dev/ttyUSB0", "usb"), port("sim:1")],
    get_settings: () => settings(),
    shift: () => shift,
    new_shift: () => ({ ...shift, passed: 0, failed: 0, per_hour: null }),
    operator_state: () => ({ operator: "alice", required: false }),
    change_setting: () => settings(),
    start_flash: (a) => ({ job_id: ++job, port: a.port }),
    start_gang: (a) => (a.ports as string[]).map((p) => ({ job_id: ++job, port: p })),
    station_choice: () => ({ choice: { target: null, prefix: "", ports: [], typed_ports: [] }, dropped: null }),
    remember_station_choice: () => null,
    recent_results: () => ({}),
    check_typed_port: (a) => (a.path as string).trim(),
    pool_status: () => ({ ready: 2, target: 2, filling: false, algorithm: "argon2:m=102400,t=2,p=8" }),
    expect_ports: () => ({ ready: 2, target: 2, filling: false, algorithm: "argon2:m=102400,t=2,p=8" }),
    ...over,
  };
}

/** Wait past the next animation frame (progress is drawn once per frame). */
export async function nextFrame(): Promise<void> {
  await new Promise((r) => setTimeout(r, 40));
  await settle();
}
