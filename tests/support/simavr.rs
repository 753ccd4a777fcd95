//! An AVR firmware with its config in EEPROM, run under simavr by the runner in
//! `firmware/sim/dh_simavr.c` (its UART on a pseudo-terminal, its EEPROM kept in a file between
//! runs, power cut at the k-th EEPROM byte write, pins held at a level), provisioned by the real
//! `station` CLI; and the power-cut sweep over a re-flash's EEPROM writes. Shared by
//! `tests/firmware_eeprom.rs` (the bare-AVR example with `ports/avr_eeprom`) and
//! `tests/firmware_arduino_sim.rs` (the Arduino library's example sketch): each says how its
//! EEPROM lays out the committed config, the rest is the same.
//!
//! Needs `avr-gcc` and simavr's library (`scripts/setup-deps.sh`: gcc-avr avr-libc
//! libsimavr-dev); the firmware is built with `make -C firmware`.

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use station_core::credentials::{verify_password, Secret};
use station_core::{FlashState, Store};
use station_protocol::{Client, Key, SerialTransport, StoredConfig};

use crate::{repo_root, workspace_bin};

/// The runner's exit status when it cut the power (firmware/sim/dh_simavr.c).
pub const EXIT_POWER_CUT: i32 = 3;
/// Argon2 parameters small enough for tests.
pub const FAST_HASH: &str = "argon2:m=256,t=1,p=1";
/// The one device these tests provision (type WeatherStation, batch prefix "farm-").
pub const DEVICE_ID: &str = "farm-weatherstation-001";
/// How a cut byte write leaves its byte (the runner's --cut-mode): as it was, or erased to 0xFF
/// between the erase and program phases of an AVR byte write.
pub const CUT_BEFORE: &str = "before";
pub const CUT_TORN: &str = "torn";
/// The last write landed, then the power failed before the reply.
pub const CUT_AFTER: &str = "after";
/// Where the power fails: at the k-th EEPROM byte write since power-on (1-based), or at the
/// n-th write (1-based) to an EEPROM address (the runner's --cut-at, --cut-at-addr A:N).
#[derive(Clone, Copy, Debug)]
pub enum CutAt {
    Write(u32),
    Address(u16, u32),
}

impl std::fmt::Display for CutAt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CutAt::Write(k) => write!(f, "EEPROM write {k}"),
            CutAt::Address(a, n) => write!(f, "write {n} to EEPROM address {a:#05x}"),
        }
    }
}

/// How long a cut run may take to reach its cut once the station has given up.
const CUT_WAIT: Duration = Duration::from_secs(5);
const STOP_WAIT: Duration = Duration::from_secs(10);

pub fn firmware_dir() -> PathBuf {
    repo_root().join("firmware")
}

/// `make -C firmware <args>`, serialised across test processes with flock(1).
pub fn make_firmware(args: &[&str]) {
    let fw = firmware_dir();
    fs::create_dir_all(fw.join("build")).expect("create firmware/build");
    let out = Command::new("flock")
        .arg(fw.join("build/.make.lock"))
        .args(["make", "-s", "-C"])
        .arg(&fw)
        .args(args)
        .output()
        .expect("run flock and make (util-linux, make)");
    assert!(
        out.status.success(),
        "make -C firmware {} failed (the Debian packages gcc-avr avr-libc libsimavr-dev \
         arduino-builder arduino-core-avr are needed: bash scripts/setup-deps.sh):\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The simavr runner, built.
pub fn runner() -> PathBuf {
    make_firmware(&["sim"]);
    firmware_dir().join("build/sim/dh-simavr")
}

/// A `#define NAME value` or `static const ... NAME = value;` number from a firmware source
/// (one place for each layout constant: the firmware's own text).
pub fn c_number(text: &str, file: &str, name: &str) -> usize {
    let v = text
        .lines()
        .find_map(|l| {
            let l = l.trim();
            l.strip_prefix(&format!("#define {name} ")).or_else(|| {
                l.starts_with("static const ")
                    .then(|| l.split_once(&format!(" {name} = ")))
                    .flatten()
                    .map(|(_, v)| v.trim_end_matches(';'))
            })
        })
        .unwrap_or_else(|| panic!("no {name} in {file}"))
        .trim()
        .trim_end_matches('u');
    match v.strip_prefix("0x") {
        Some(hex) => usize::from_str_radix(hex, 16),
        None => v.parse(),
    }
    .unwrap_or_else(|e| panic!("{file}: {name} = {v}: {e}"))
}

/// Reads the committed blob (trailer included) out of an EEPROM image, if there is one.
pub type BlobReader = Box<dyn Fn(&[u8]) -> Option<Vec<u8>>>;

/// One firmware under simavr: its ELF, the runner, and how its EEPROM holds the committed
/// config (the blob the library committed, trailer included), if any.
pub struct Unit {
    pub elf: PathBuf,
    pub runner: PathBuf,
    pub committed_blob: BlobReader,
    /// Pins held while the station writes (`--pin D7=0`: a factory jumper), for every run of
    /// the sweep; empty for a unit without a write gate.
    pub write_pins: Vec<String>,
}

impl Unit {
    /// The committed config in the EEPROM file, if one decodes (its SHA-256 trailer checked).
    pub fn stored_config(&self, eeprom: &Path) -> Option<StoredConfig> {
        let image = fs::read(eeprom).expect("read the EEPROM file");
        (self.committed_blob)(&image).and_then(|b| StoredConfig::from_blob(&b).ok())
    }
}

// ---- The board under simavr ------------------------------------------------------------

pub struct Board {
    child: Child,
    pub port: String,
    stderr: PathBuf,
}

impl Board {
    /// Powers the unit up with `dir/eeprom.bin` (blank if missing) and the UART log in
    /// `dir/uart.log`, optionally with power cut at EEPROM write `k` (`mode`), and `pins`
    /// ("D7=0") held at their level.
    pub fn power_on(unit: &Unit, dir: &Path, cut: Option<(CutAt, &str)>, pins: &[String]) -> Board {
        let stderr = dir.join("runner.txt");
        let mut cmd = Command::new(&unit.runner);
        cmd.arg("--eeprom")
            .arg(dir.join("eeprom.bin"))
            .arg("--uart-log")
            .arg(dir.join("uart.log"));
        match cut {
            Some((CutAt::Write(k), mode)) => {
                cmd.args(["--cut-at", &k.to_string(), "--cut-mode", mode]);
            }
            Some((CutAt::Address(a, n), mode)) => {
                cmd.args(["--cut-at-addr", &format!("{a}:{n}"), "--cut-mode", mode]);
            }
            None => {}
        }
        for pin in pins {
            cmd.args(["--pin", pin]);
        }
        let mut child = cmd
            .arg(&unit.elf)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(&stderr).expect("runner log"))
            .spawn()
            .expect("start dh-simavr");
        let stdout = child.stdout.take().expect("runner stdout");
        let port = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|l| l.strip_prefix("pty ").map(str::to_owned))
            .expect("dh-simavr names its pty");
        Board {
            child,
            port,
            stderr,
        }
    }

    /// Waits for the runner to end by itself (a power cut), or None if it still runs.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Switches the board off (SIGTERM: the runner saves the EEPROM) and returns the number of
    /// EEPROM writes it saw.
    pub fn power_off(mut self) -> u32 {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let status = self
            .wait_exit(STOP_WAIT)
            .expect("dh-simavr stops on SIGTERM");
        assert!(status.success(), "dh-simavr: {status}");
        let text = fs::read_to_string(&self.stderr).unwrap_or_default();
        text.lines()
            .find_map(|l| l.strip_prefix("eeprom-writes "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no eeprom-writes line from dh-simavr:\n{text}"))
    }
}

impl Drop for Board {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---- The station CLI ---------------------------------------------------------------------

pub fn station(db: &Path, args: &[&str]) -> Output {
    Command::new(workspace_bin("station-cli", "station"))
        .args(args)
        .env("STATION_DB", db)
        .env("STATION_OPERATOR", "eeprom-test")
        .stdin(Stdio::null())
        .output()
        .expect("run station")
}

pub fn station_ok(db: &Path, args: &[&str]) -> String {
    let out = station(db, args);
    assert!(
        out.status.success(),
        "station {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A station database with the one type and a batch of one device, DEVICE_ID.
pub fn station_with_one_device(db: &Path) {
    for args in [
        vec!["settings", "set", "hash_algorithm", FAST_HASH],
        vec!["type", "add", "WeatherStation", "--app-label", "myapp"],
        vec![
            "batch",
            "create",
            "WeatherStation",
            "--count",
            "1",
            "--prefix",
            "farm-",
        ],
    ] {
        station_ok(db, &args);
    }
}

/// HELLO and READ device_id over the unit's UART: the id and generation it boots with.
pub fn hello(port: &str) -> (Option<String>, Option<u32>) {
    let transport = SerialTransport::open(port).expect("open the board's pty");
    let id = Client::new(transport).hello().expect("HELLO + READ");
    (id.device_id, id.generation)
}

/// The record of DEVICE_ID and what the EEPROM holds agree: same generation, nothing pending,
/// the unit's password accepted by the record's hash.
pub fn assert_settled(db: &Path, held: &StoredConfig, ctx: &str) {
    let store = Store::open(db).expect("open store");
    let d = store.find_device(DEVICE_ID).expect("device");
    assert_eq!(held.get_str(Key::DeviceId), DEVICE_ID, "{ctx}");
    assert_eq!(d.flash_state, FlashState::Flashed, "{ctx}");
    assert_eq!(d.generation, held.generation(), "{ctx}: generation");
    assert_eq!(d.pending_generation, None, "{ctx}: still pending");
    let hash = store
        .password_hash(DEVICE_ID)
        .expect("hash")
        .expect("a flashed record has a hash");
    let pw = Secret::new(held.get_str(Key::MqttPassword).to_owned());
    assert!(
        verify_password(&pw, &hash).expect("verify"),
        "{ctx}: the unit's password fails the record's hash"
    );
}

/// Copies the station database and the EEPROM file of one state to `to` (emptied first).
pub fn copy_state(from: &Path, to: &Path) {
    let _ = fs::remove_dir_all(to);
    fs::create_dir_all(to).expect("mkdir");
    for entry in fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let name = entry.file_name();
        let name_str = name.to_string_lossy();
        if name_str.starts_with("station.sqlite3") || name_str == "eeprom.bin" {
            fs::copy(entry.path(), to.join(&name)).expect("copy");
        }
    }
}

/// Provisions the unit, re-flashes it (so both slots hold a committed config and the next
/// commit overwrites the older one), with the unit's write pins held, and returns the
/// directory holding that state: generation 2, settled.
pub fn provisioned_base(unit: &Unit, root: &Path) -> PathBuf {
    let base = root.join("base");
    fs::create_dir_all(&base).expect("mkdir");
    let db = base.join("station.sqlite3");
    station_with_one_device(&db);
    let board = Board::power_on(unit, &base, None, &unit.write_pins);
    station_ok(&db, &["flash", "--port", &board.port, "--batch", "1"]);
    station_ok(&db, &["reflash", "--port", &board.port]);
    assert_eq!(hello(&board.port), (Some(DEVICE_ID.into()), Some(2)));
    board.power_off();
    let held = unit
        .stored_config(&base.join("eeprom.bin"))
        .expect("a committed config in EEPROM");
    assert_settled(&db, &held, "after provisioning");
    base
}

/// One re-flash from `base` (generation `old`) with power cut at `at` (`mode`), then a
/// power-up that must find the old config or the new one and a station that settles its
/// record to match. The generation the unit booted with, or None if the re-flash ended
/// without reaching `at`.
pub fn cut_run(
    unit: &Unit,
    base: &Path,
    root: &Path,
    old: u32,
    at: CutAt,
    mode: &str,
) -> Option<u32> {
    let ctx = format!("power cut at {at} ({mode})");
    let run = root.join("run");
    copy_state(base, &run);
    let db = run.join("station.sqlite3");
    let mut board = Board::power_on(unit, &run, Some((at, mode)), &unit.write_pins);
    let flash = station(&db, &["reflash", "--port", &board.port]);
    let Some(status) = board.wait_exit(CUT_WAIT) else {
        assert!(flash.status.success(), "{ctx}: re-flash failed, and no cut");
        board.power_off();
        return None;
    };
    assert_eq!(
        status.code(),
        Some(EXIT_POWER_CUT),
        "{ctx}: dh-simavr {status}"
    );
    assert!(
        !flash.status.success(),
        "{ctx}: the re-flash claims success"
    );

    // Power up again: HELLO + READ, then the station settles what it left pending.
    let board = Board::power_on(unit, &run, None, &unit.write_pins);
    let (id, generation) = hello(&board.port);
    assert_eq!(
        id.as_deref(),
        Some(DEVICE_ID),
        "{ctx}: the unit lost its identity"
    );
    let generation = match generation {
        Some(g) if g == old || g == old + 1 => g,
        other => panic!(
            "{ctx}: the unit boots with generation {other:?}, not {old} or {}",
            old + 1
        ),
    };
    station_ok(&db, &["recover", "--port", &board.port]);
    let identified = station_ok(&db, &["identify", "--port", &board.port, "--json"]);
    let json: serde_json::Value = serde_json::from_str(&identified).expect("identify --json");
    assert_eq!(
        json["generation"].as_u64(),
        Some(u64::from(generation)),
        "{ctx}: identify: {identified}"
    );
    assert_eq!(board.power_off(), 0, "{ctx}: recovery wrote the EEPROM");
    let held = unit
        .stored_config(&run.join("eeprom.bin"))
        .unwrap_or_else(|| panic!("{ctx}: no committed config in the EEPROM"));
    assert_eq!(held.generation(), generation, "{ctx}");
    assert_settled(&db, &held, &ctx);
    Some(generation)
}

/// A clean re-flash from `base`: how many EEPROM writes one makes.
pub fn reflash_writes(unit: &Unit, base: &Path, root: &Path) -> u32 {
    let dry = root.join("dry");
    copy_state(base, &dry);
    let board = Board::power_on(unit, &dry, None, &unit.write_pins);
    station_ok(
        &dry.join("station.sqlite3"),
        &["reflash", "--port", &board.port],
    );
    let writes = board.power_off();
    assert!(writes > 0, "the re-flash wrote no EEPROM byte");
    writes
}

/// What a sweep tried and what the unit booted with after each cut.
#[derive(Debug, Default)]
pub struct Sweep {
    /// Write positions cut (1..=positions): every EEPROM byte write of the re-flash.
    pub positions: u32,
    pub cuts: u32,
    /// Cuts per mode: before, torn, after.
    pub before: u32,
    pub torn: u32,
    pub after: u32,
    /// Booted the old config, the new one.
    pub old: u32,
    pub new: u32,
}

impl Sweep {
    pub fn count(&mut self, mode: &str, generation: u32, old: u32) {
        self.cuts += 1;
        match mode {
            CUT_BEFORE => self.before += 1,
            CUT_TORN => self.torn += 1,
            _ => self.after += 1,
        }
        if generation == old {
            self.old += 1;
        } else {
            self.new += 1;
        }
    }
}

/// Power cut at every EEPROM byte write k = 1, 2, ... of a re-flash from `base` (generation
/// `old`), in each mode `modes(k)` names, until a re-flash finishes before write k; then once
/// more at the last write, 'after' it landed. Every cut must boot the old config or the new
/// one and settle (cut_run).
pub fn sweep(
    unit: &Unit,
    base: &Path,
    root: &Path,
    old: u32,
    modes: &dyn Fn(u32) -> Vec<&'static str>,
) -> Sweep {
    let mut s = Sweep::default();
    // The password is random per re-flash, so a byte may happen to hold its new value already
    // (eeprom_update_byte skips it): go on until a run finishes its re-flash before write k.
    let mut k = 1u32;
    'positions: loop {
        let at_k = modes(k);
        assert!(!at_k.is_empty(), "no cut mode at write {k}");
        for mode in at_k {
            match cut_run(unit, base, root, old, CutAt::Write(k), mode) {
                Some(generation) => {
                    s.count(mode, generation, old);
                    s.positions = k;
                }
                None => break 'positions,
            }
        }
        k += 1;
    }
    // A run's count of writes varies by a few (see above): the last position some run reaches.
    let (at, g) = (1..=s.positions)
        .rev()
        .find_map(|k| cut_run(unit, base, root, old, CutAt::Write(k), CUT_AFTER).map(|g| (k, g)))
        .expect("a cut at the last write");
    eprintln!("'after' cut at write {at}");
    s.count(CUT_AFTER, g, old);
    s
}
