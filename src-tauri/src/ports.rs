//! The ports the Station screen offers: USB-serial ports found on the machine (with their
//! VID:PID, serial number and product), the simulated bench, and watching for plug-ins.
//!
//! Paths are kept exactly as the OS names them (`/dev/ttyUSB0`, `COM3`, `\\.\COM12`): nothing
//! here assumes a Unix path.

use std::time::Duration;

use station_protocol::{PortEvent, PortInfo, PortWatcher};

use crate::dto::{Port, PortKind};
use station_service::bench::SIM_PORT_PREFIX;

/// How often the machine's ports are listed to notice a unit being plugged in.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(750);

/// A listed port as the UI shows it.
pub fn from_info(p: PortInfo) -> Port {
    let kind = if p.vid.is_some() {
        PortKind::Usb
    } else {
        PortKind::Serial
    };
    Port {
        label: label(&p),
        id: p.path,
        kind,
        vid: p.vid,
        pid: p.pid,
        serial_number: p.serial_number,
        product: p.product,
        manufacturer: p.manufacturer,
    }
}

fn label(p: &PortInfo) -> String {
    let mut parts = vec![p.path.clone()];
    if let Some(product) = p.product.as_deref().or(p.manufacturer.as_deref()) {
        parts.push(product.to_owned());
    }
    if let (Some(vid), Some(pid)) = (p.vid, p.pid) {
        parts.push(format!("{vid:04x}:{pid:04x}"));
    }
    if let Some(sn) = &p.serial_number {
        parts.push(format!("serial {sn}"));
    }
    parts.join(" · ")
}

/// The simulated ports `sim:1` ... `sim:count`.
pub fn simulated(count: u32) -> Vec<Port> {
    (1..=count)
        .map(|n| Port {
            id: format!("{SIM_PORT_PREFIX}{n}"),
            kind: PortKind::Simulated,
            label: if count == 1 {
                "Simulated device".into()
            } else {
                format!("Simulated device {n}")
            },
            vid: None,
            pid: None,
            serial_number: None,
            product: None,
            manufacturer: None,
        })
        .collect()
}

/// The machine's serial ports now. A failure to list is not fatal: the simulated bench and
/// typed paths still work, so it is logged and the list is empty.
pub fn machine_ports() -> Vec<Port> {
    match station_protocol::list_ports() {
        Ok(ports) => ports.into_iter().map(from_info).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot list serial ports");
            Vec::new()
        }
    }
}

/// Watch the machine's ports on a thread of its own; `on_change(arrived, left)` is called with
/// the paths that came and went.
pub fn spawn_watcher(
    on_change: impl Fn(Vec<String>, Vec<String>) + Send + 'static,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("port watcher".into())
        .spawn(move || {
            let mut watcher = PortWatcher::new(WATCH_INTERVAL);
            // The first poll reports every present port; the UI lists those itself.
            watcher.poll();
            loop {
                let events = watcher.wait_and_poll();
                if events.is_empty() {
                    continue;
                }
                let mut arrived = Vec::new();
                let mut left = Vec::new();
                for e in events {
                    match e {
                        PortEvent::Arrived(p) => arrived.push(p.path),
                        PortEvent::Left(path) => left.push(path),
                    }
                }
                on_change(arrived, left);
            }
        })
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usb_ports_are_labelled_with_their_identity() {
        let p = from_info(PortInfo {
            path: "COM3".into(),
            vid: Some(0x10c4),
            pid: Some(0xea60),
            serial_number: Some("0001".into()),
            product: Some("CP2102 USB to UART".into()),
            manufacturer: None,
        });
        assert_eq!(p.kind, PortKind::Usb);
        assert_eq!(p.id, "COM3");
        assert_eq!(
            p.label,
            "COM3 · CP2102 USB to UART · 10c4:ea60 · serial 0001"
        );
        let p = from_info(PortInfo::path_only("/dev/ttyS0"));
        assert_eq!(p.kind, PortKind::Serial);
        assert_eq!(p.label, "/dev/ttyS0");
    }

    #[test]
    fn one_simulated_port_has_a_plain_name() {
        assert_eq!(simulated(1)[0].label, "Simulated device");
        let many = simulated(3);
        assert_eq!(many.len(), 3);
        assert_eq!(many[2].id, "sim:3");
        assert_eq!(many[2].label, "Simulated device 3");
    }
}
