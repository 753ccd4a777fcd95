//! Issue 11's proof for the Arduino library: its example sketch `DeviceHubUno`, built from the
//! assembled library with Debian's Arduino toolchain (`make -C firmware arduino`:
//! arduino-builder, arduino-core-avr, avr-gcc), as shipped (config in the real EEPROM, through
//! `avr/eeprom.h`), run under simavr (which models the EEPROM and Timer0, so `millis()` runs)
//! by the runner in `firmware/sim/dh_simavr.c`, and provisioned by the real `station` CLI over
//! the runner's pseudo-terminal.
//!
//! - The write gate: the sketch's factory jumper (D7 to GND, `--pin D7=0`; D7 held high,
//!   `--pin D7=1`, is the jumper off) is its `dh_enable_gate()` allowance. A provisioned unit
//!   without the jumper refuses the station's re-flash (LOCKED) and keeps its config; with it,
//!   the station re-flashes it after the unit answered its possession proof (PROVE).
//! - The proof: a unit that holds another station's credentials for the same device (same id,
//!   same hardware id) fails it, jumper set or not, and is not written.
//! - Power cuts: a re-flash with power cut at every EEPROM byte write (the scratch slot's
//!   bytes during STAGE and the slot header at COMMIT) boots the old config or the new one and
//!   the station settles its record to match (`station_e2e::simavr::sweep`, shared with
//!   `tests/firmware_eeprom.rs`). To keep CI time near the bare example's sweep, every
//!   position is cut once with the byte left as it was ("before"), and also torn (erased to
//!   0xFF) at every TORN_EVERY-th position and at the last TORN_TAIL positions, which hold the
//!   slot header the commit writes last; the last write also "after" it landed.
//!
//! Needs `scripts/setup-deps.sh`: arduino-builder arduino-core-avr gcc-avr avr-libc
//! libsimavr-dev.

use std::fs;
use std::path::Path;

use station_e2e::simavr::{
    assert_settled, c_number, cut_run, firmware_dir, hello, make_firmware, provisioned_base,
    reflash_writes, runner, station, station_ok, station_with_one_device, sweep, Board, CutAt,
    Unit, CUT_AFTER, CUT_BEFORE, CUT_TORN, DEVICE_ID,
};

const SKETCH: &str = "arduino/examples/DeviceHubUno/DeviceHubUno.ino";
/// Its own build folder: `make arduino` empties the folder it builds into.
const SKETCH_OUT: &str = "build/arduino/sketch-simavr";
const SKETCH_ELF: &str = "DeviceHubUno.ino.elf";
/// The factory jumper (D7 to GND) set, and off (D7 high).
const JUMPER_SET: &str = "D7=0";
const JUMPER_OFF: &str = "D7=1";
/// Torn cuts: every TORN_EVERY-th write position, and the last TORN_TAIL ones (the 4-byte slot
/// header is written last; a margin for runs whose random bytes change a few writes fewer).
const TORN_EVERY: u32 = 8;
const TORN_TAIL: u32 = 8;

/// The sketch as shipped, built from the library, its ELF copied into `root` (a later build
/// by another test empties the build folder), and its EEPROM layout read from the sketch:
/// slots of SLOT_BYTES at 0 and SLOT_BYTES, their 4-byte headers (len lo, len hi, seq, ~seq)
/// at 2 * SLOT_BYTES; a header is valid when its last byte is the complement of seq, and of
/// two valid ones the newer seq (modulo 256) holds the committed blob.
#[derive(Clone, Copy)]
struct Layout {
    slot: usize,
    hdr_bytes: usize,
}

impl Layout {
    fn read() -> Layout {
        let text = fs::read_to_string(firmware_dir().join(SKETCH)).expect("read the sketch");
        assert!(
            text.contains("HDR_BASE = 2 * SLOT_BYTES;"),
            "{SKETCH}: the slot headers moved; update this test's reading of the layout"
        );
        Layout {
            slot: c_number(&text, SKETCH, "SLOT_BYTES"),
            hdr_bytes: c_number(&text, SKETCH, "HDR_BYTES"),
        }
    }

    /// EEPROM address of slot i's header.
    fn header_at(self, i: usize) -> usize {
        2 * self.slot + i * self.hdr_bytes
    }

    /// The slot holding the committed blob and its length, as the sketch's store_load() picks.
    fn active(self, image: &[u8]) -> Option<(usize, usize)> {
        let header = |i: usize| {
            let h = &image[self.header_at(i)..self.header_at(i) + self.hdr_bytes];
            let len = usize::from(u16::from_le_bytes([h[0], h[1]]));
            (!h[2] == h[3] && len <= self.slot).then_some((len, h[2]))
        };
        match (header(0), header(1)) {
            (Some((l0, s0)), Some((l1, s1))) => Some(if s1.wrapping_sub(s0) < 128 {
                (1, l1)
            } else {
                (0, l0)
            }),
            (Some((l, _)), None) => Some((0, l)),
            (None, Some((l, _))) => Some((1, l)),
            (None, None) => None,
        }
    }
}

fn unit(root: &Path) -> Unit {
    make_firmware(&["arduino", &format!("ARDUINO_OUT={SKETCH_OUT}")]);
    let elf = root.join(SKETCH_ELF);
    fs::copy(firmware_dir().join(SKETCH_OUT).join(SKETCH_ELF), &elf).expect("copy the ELF");
    let l = Layout::read();
    let committed_blob = move |image: &[u8]| -> Option<Vec<u8>> {
        let (active, len) = l.active(image)?;
        Some(image[active * l.slot..active * l.slot + len].to_vec())
    };
    Unit {
        elf,
        runner: runner(),
        committed_blob: Box::new(committed_blob),
        write_pins: vec![JUMPER_SET.to_owned()],
    }
}

fn pins(p: &str) -> Vec<String> {
    vec![p.to_owned()]
}

/// What the unit wrote on its UART since `from` bytes of its log.
fn uart_since(dir: &Path, from: usize) -> String {
    let log = fs::read(dir.join("uart.log")).unwrap_or_default();
    String::from_utf8_lossy(&log[from.min(log.len())..]).into_owned()
}

fn uart_len(dir: &Path) -> usize {
    fs::metadata(dir.join("uart.log")).map_or(0, |m| m.len() as usize)
}

/// A refused re-flash: the station says why, exits non-zero, and the unit wrote nothing.
fn refused_reflash(db: &Path, dir: &Path, pin: &str, u: &Unit, why: &str, ctx: &str) {
    let board = Board::power_on(u, dir, None, &pins(pin));
    let out = station(db, &["reflash", "--port", &board.port]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !out.status.success(),
        "{ctx}: the re-flash succeeded: {text}"
    );
    assert!(
        text.contains(why),
        "{ctx}: the station does not say {why:?}: {text}"
    );
    assert_eq!(board.power_off(), 0, "{ctx}: the refused unit wrote EEPROM");
}

/// The sketch is provisioned by the station; once provisioned, its write gate refuses a
/// re-flash without the factory jumper and a unit failing the possession proof is not
/// written; with the jumper and the proof, the station re-flashes it.
#[test]
fn simavr_sketch_is_provisioned_gated_by_its_factory_pin_and_reflashed_with_a_proof() {
    let root = tempfile::tempdir().expect("tempdir");
    let u = unit(root.path());

    // Unit A, provisioned without the jumper: a unit that holds no config takes its first
    // write (spec 10.3).
    let a = root.path().join("a");
    fs::create_dir_all(&a).expect("mkdir");
    let db_a = a.join("station.sqlite3");
    station_with_one_device(&db_a);
    let board = Board::power_on(&u, &a, None, &pins(JUMPER_OFF));
    station_ok(&db_a, &["flash", "--port", &board.port, "--batch", "1"]);
    assert_eq!(hello(&board.port), (Some(DEVICE_ID.into()), Some(1)));
    assert!(board.power_off() > 0, "provisioning wrote no EEPROM byte");
    let boot = uart_since(&a, 0);
    assert!(
        boot.contains(" booting\r\n") && !boot.contains("factory mode"),
        "the sketch did not boot out of factory mode: {boot}"
    );
    let hello_reply = boot
        .lines()
        .find(|l| l.contains(" OK HELLO "))
        .unwrap_or_else(|| panic!("no HELLO reply on the UART: {boot}"));
    for cap in ["BAUD", "PROVE", "GATE"] {
        assert!(
            hello_reply.contains(cap),
            "HELLO does not list {cap}: {hello_reply}"
        );
    }
    let held_a1 = u
        .stored_config(&a.join("eeprom.bin"))
        .expect("a committed config in EEPROM");
    assert_settled(&db_a, &held_a1, "after provisioning");

    // Without the jumper: LOCKED, nothing written, record and unit unchanged.
    let before = uart_len(&a);
    refused_reflash(&db_a, &a, JUMPER_OFF, &u, "locked", "jumper off");
    assert!(
        uart_since(&a, before).contains("ERR BEGIN LOCKED"),
        "the unit did not answer BEGIN with LOCKED"
    );
    let held = u.stored_config(&a.join("eeprom.bin")).expect("config");
    assert_eq!(held.generation(), 1, "a locked unit changed its config");
    assert_settled(&db_a, &held, "after the locked refusal");

    // Unit B holds another station's credentials for the same device id (and the same
    // hardware id: the sketch's default). Station A's proof fails on it, jumper set: not
    // written, A's record untouched, B keeps B's config.
    let b = root.path().join("b");
    fs::create_dir_all(&b).expect("mkdir");
    let db_b = b.join("station.sqlite3");
    station_with_one_device(&db_b);
    let board = Board::power_on(&u, &b, None, &pins(JUMPER_OFF));
    station_ok(&db_b, &["flash", "--port", &board.port, "--batch", "1"]);
    board.power_off();
    let before = uart_len(&b);
    refused_reflash(
        &db_a,
        &b,
        JUMPER_SET,
        &u,
        "proof",
        "a unit holding other credentials",
    );
    let answered = uart_since(&b, before);
    assert!(
        answered.contains(" OK PROVE ") && !answered.contains(" BEGIN"),
        "the unit was not asked for a proof, or was written after failing it: {answered}"
    );
    let held_b = u.stored_config(&b.join("eeprom.bin")).expect("config");
    assert_settled(&db_b, &held_b, "unit B after failing station A's proof");
    assert_settled(&db_a, &held_a1, "station A after unit B failed its proof");

    // With the jumper set, unit A proves it holds generation 1's password and is re-flashed.
    let before = uart_len(&a);
    let board = Board::power_on(&u, &a, None, &pins(JUMPER_SET));
    station_ok(&db_a, &["reflash", "--port", &board.port]);
    // Above 1; not necessarily 2: the refused attempts used up generation numbers, which are
    // never reused (spec 10.3).
    let (id, generation) = hello(&board.port);
    assert_eq!(id.as_deref(), Some(DEVICE_ID));
    let generation = generation.expect("a generation");
    assert!(generation > 1, "re-flashed to generation {generation}");
    assert!(board.power_off() > 0, "the re-flash wrote no EEPROM byte");
    let answered = uart_since(&a, before);
    assert!(
        answered.contains("factory mode") && answered.contains(" OK PROVE "),
        "the re-flash ran without the jumper or without a proof: {answered}"
    );
    let held = u.stored_config(&a.join("eeprom.bin")).expect("config");
    assert_eq!(held.generation(), generation);
    assert_settled(&db_a, &held, "after the proven re-flash");
}

/// Power cut at every EEPROM byte write of the sketch's re-flash (factory jumper set): the
/// unit boots with the old config or the new one, and the station settles its record to match.
#[test]
fn simavr_sketch_power_cut_at_every_eeprom_write_of_a_reflash_leaves_old_or_new() {
    let root = tempfile::tempdir().expect("tempdir");
    let u = unit(root.path());
    let base = provisioned_base(&u, root.path());
    let writes = reflash_writes(&u, &base, root.path());
    eprintln!("one re-flash of the sketch makes {writes} EEPROM byte writes");

    let modes = move |k: u32| {
        if k.is_multiple_of(TORN_EVERY) || k + TORN_TAIL > writes {
            vec![CUT_BEFORE, CUT_TORN]
        } else {
            vec![CUT_BEFORE]
        }
    };
    let mut s = sweep(&u, &base, root.path(), 2, &modes);
    eprintln!(
        "by position: {} power cuts at {} EEPROM write positions ({} before, {} torn, {} after \
         the last): {} booted the old config, {} the new one",
        s.cuts, s.positions, s.before, s.torn, s.after, s.old, s.new
    );
    assert!(
        s.positions >= writes.saturating_sub(writes / 8),
        "{} cut points for a re-flash of {writes} writes",
        s.positions
    );
    assert!(s.before >= s.positions, "a write position was not cut");
    assert!(s.torn >= TORN_TAIL.min(s.positions), "too few torn cuts");

    // The commit record by address, whatever a run's count of writes: each byte of the scratch
    // slot's header (length, seq, then ~seq last) cut before, torn and after. A header byte
    // that already holds its value is not written (None: not reached).
    let l = Layout::read();
    let image = fs::read(base.join("eeprom.bin")).expect("base EEPROM");
    let (active, _) = l.active(&image).expect("a committed slot");
    let header = l.header_at(1 - active);
    let last = header + l.hdr_bytes - 1;
    for addr in header..=last {
        for mode in [CUT_BEFORE, CUT_TORN, CUT_AFTER] {
            let at = CutAt::Address(u16::try_from(addr).expect("an EEPROM address"), 1);
            let Some(g) = cut_run(&u, &base, root.path(), 2, at, mode) else {
                assert!(
                    addr < last - 1,
                    "the commit did not write seq or ~seq at {addr:#x}"
                );
                continue;
            };
            s.count(mode, g, 2);
            if addr == last {
                // Until ~seq is written the new slot is invalid; once it is, it is the newest.
                let want = if mode == CUT_AFTER { 3 } else { 2 };
                assert_eq!(g, want, "power cut at {at} ({mode})");
            }
        }
    }
    eprintln!(
        "in all: {} power cuts ({} before, {} torn, {} after): {} booted the old config, {} \
         the new one, none neither",
        s.cuts, s.before, s.torn, s.after, s.old, s.new
    );
    assert!(s.old > 0 && s.new > 0, "every cut gave the same outcome");
}
