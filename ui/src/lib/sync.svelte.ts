// The Sync screen's logic: the connection to the server, the queue, errors, retry now.

import type { AppError, SyncStatus } from "./bindings";
import { call, commands, toAppError } from "./ipc";

export class SyncController {
  status: SyncStatus | null = $state(null);
  error: AppError | null = $state(null);
  retrying = $state(false);

  async load(): Promise<void> {
    try {
      this.status = await call(commands.syncStatus());
      this.error = null;
    } catch (e) {
      this.error = toAppError(e);
    }
  }

  async retry(): Promise<void> {
    this.retrying = true;
    try {
      this.status = await call(commands.syncRetry());
      this.error = null;
    } catch (e) {
      this.error = toAppError(e);
    } finally {
      this.retrying = false;
    }
  }
}
