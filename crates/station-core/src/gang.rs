//! Flashing units on serial ports: one port, or several at once ("gang flashing"), each with
//! its own progress and result, all recording into one database.
//!
//! Every port gets its own thread and its own database connection; the store's transactions
//! (WAL, busy timeout, IMMEDIATE writes) keep them from taking the same device or id.

use std::path::Path;

use station_protocol::SerialTransport;

use crate::devices::Actor;
use crate::flash::{
    self, device_error, FlashFailure, FlashJob, FlashOutcome, FlashStep, UnitReport,
};
use crate::hooks::Hooks;
use crate::store::Store;

/// Open the serial port at `port` and run `job` on the unit there.
pub fn flash_port(
    store: &mut Store,
    port: &str,
    job: &FlashJob,
    actor: &Actor,
    hooks: &Hooks,
    progress: &mut dyn FnMut(FlashStep),
) -> Result<FlashOutcome, FlashFailure> {
    progress(FlashStep::Connect);
    flash::run(store, open(port)?, job, actor, hooks, progress)
}

fn open(port: &str) -> Result<SerialTransport, FlashFailure> {
    SerialTransport::open(port).map_err(|e| FlashFailure {
        device_id: None,
        error: device_error(&e),
    })
}

/// Open the serial port at `port` and read which device the unit there holds.
pub fn identify_port(
    store: &mut Store,
    port: &str,
    actor: &Actor,
) -> Result<UnitReport, FlashFailure> {
    flash::identify(store, open(port)?, actor)
}

/// Run one job per port at the same time. `on_step(i, step)` reports port `i`'s progress
/// from its own thread. Results come back in the order of `jobs`.
pub fn flash_ports(
    db: &Path,
    jobs: &[(String, FlashJob)],
    actor: &Actor,
    hooks: &Hooks,
    on_step: &(dyn Fn(usize, FlashStep) + Sync),
) -> Vec<Result<FlashOutcome, FlashFailure>> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .iter()
            .enumerate()
            .map(|(i, (port, job))| {
                scope.spawn(move || {
                    let mut store = Store::open(db)?;
                    flash_port(&mut store, port, job, actor, hooks, &mut |s| on_step(i, s))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(FlashFailure {
                        device_id: None,
                        error: crate::error::CoreError::Internal(
                            "a flashing thread panicked".into(),
                        ),
                    })
                })
            })
            .collect()
    })
}
