//! The simulator's line behaviour seen from a host on its pty, with a minimal SLIP client:
//! lost bytes (a damaged SYNC goes unanswered, a resent one is answered), the boot banner
//! before SYNC, and the app/loader boot state around FLASH_END and the emulated reset.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use serialport::SerialPort;
use station_espsim::protocol::{self, Op, Request};
use station_espsim::{slip, EspSimOptions, EspSimulator, Flash};

struct Host {
    port: Box<dyn SerialPort>,
    decoder: slip::Decoder,
    seen: Vec<u8>,
}

impl Host {
    fn open(path: &str) -> Host {
        let port = serialport::new(path, 115_200)
            .timeout(Duration::from_millis(20))
            .open()
            .expect("open the simulator's pty");
        Host {
            port,
            decoder: slip::Decoder::new(),
            seen: Vec::new(),
        }
    }

    fn send(&mut self, op: Op, data: &[u8]) {
        let framed = slip::encode(&Request::encode(op as u8, data, 0));
        self.port.write_all(&framed).expect("write to the pty");
    }

    /// Response packets received within `wait` (text between frames, such as the app's log,
    /// can decode as a short junk packet: a host must skip those, as esptool does).
    fn responses(&mut self, wait: Duration) -> Vec<Vec<u8>> {
        self.packets(wait)
            .into_iter()
            .filter(|p| p.len() >= protocol::HEADER_LEN && p[0] == protocol::DIR_RESPONSE)
            .collect()
    }

    /// Packets received within `wait`.
    fn packets(&mut self, wait: Duration) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + wait;
        let mut out = Vec::new();
        let mut buf = [0u8; 256];
        while Instant::now() < deadline {
            if let Ok(n) = self.port.read(&mut buf) {
                self.seen.extend_from_slice(&buf[..n]);
                out.extend(self.decoder.feed(&buf[..n]));
            }
        }
        out
    }
}

fn sync_payload() -> Vec<u8> {
    let mut p = protocol::SYNC_PAYLOAD_HEAD.to_vec();
    p.extend_from_slice(&[0x55; 32]);
    p
}

#[test]
fn a_sync_damaged_by_lost_bytes_is_unanswered_and_a_resent_one_is_answered() {
    let sim = EspSimulator::start(
        EspSimOptions {
            drop_rate: 0.05,
            seed: 7,
            ..EspSimOptions::default()
        },
        Flash::default(),
    )
    .expect("start simulator");
    let mut host = Host::open(sim.port_path());
    let mut unanswered = 0;
    let mut answered = None;
    for attempt in 0..40 {
        host.send(Op::Sync, &sync_payload());
        let replies = host.packets(Duration::from_millis(60));
        if replies.is_empty() {
            unanswered += 1;
        } else {
            answered = Some((attempt, replies));
            break;
        }
    }
    let (_, replies) = answered.expect("a SYNC got through within 40 tries");
    assert!(unanswered > 0, "seed 7 at 5% loses bytes of the first SYNC");
    assert_eq!(replies.len(), protocol::SYNC_RESPONSES);
    assert!(replies.iter().all(|r| r[1] == Op::Sync as u8));
}

#[test]
fn the_boot_banner_comes_before_sync_and_is_not_a_packet() {
    let sim = EspSimulator::start(
        EspSimOptions {
            noise_before_sync: true,
            ..EspSimOptions::default()
        },
        Flash::default(),
    )
    .expect("start simulator");
    let mut host = Host::open(sim.port_path());
    let noise = host.packets(Duration::from_millis(150));
    assert!(String::from_utf8_lossy(&host.seen).contains("waiting for download"));
    assert!(noise
        .iter()
        .all(|p| Request::parse(p).is_none() && p.len() < 8));
    host.send(Op::Sync, &sync_payload());
    assert_eq!(
        host.responses(Duration::from_millis(150)).len(),
        protocol::SYNC_RESPONSES
    );
}

#[test]
fn after_flash_end_the_app_ignores_the_loader_until_reset() {
    let sim =
        EspSimulator::start(EspSimOptions::default(), Flash::default()).expect("start simulator");
    let mut host = Host::open(sim.port_path());
    host.send(Op::FlashEnd, &1u32.to_le_bytes());
    let replies = host.responses(Duration::from_millis(150));
    assert_eq!(replies.len(), 1);
    assert_eq!(&replies[0][replies[0].len() - 4..], &[0, 0, 0, 0]);
    host.send(Op::Sync, &sync_payload());
    assert!(host.responses(Duration::from_millis(150)).is_empty());
    assert!(String::from_utf8_lossy(&host.seen).contains("app running"));
    sim.reset_into_loader();
    std::thread::sleep(Duration::from_millis(100));
    host.send(Op::Sync, &sync_payload());
    assert_eq!(
        host.responses(Duration::from_millis(150)).len(),
        protocol::SYNC_RESPONSES
    );
}
