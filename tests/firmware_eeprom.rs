//! The ATmega328P example firmware with its config in EEPROM (`firmware/ports/avr_eeprom`),
//! run under simavr, which models the EEPROM (qemu-system-avr does not), by the runner in
//! `firmware/sim/dh_simavr.c`: its UART on a pseudo-terminal, its EEPROM kept in a file
//! between runs, and power cut at the k-th EEPROM byte write of a commit.
//!
//! The real `station` CLI provisions the unit and re-flashes it; then, for every EEPROM byte
//! write k of a re-flash's commit, from the same starting EEPROM and station database, the
//! re-flash is run again with power cut at write k (the byte left as it was, or torn: erased to
//! 0xFF between the erase and program phases of an AVR byte write), the board is powered up
//! again, and it must boot with the old config or the new one, never neither: HELLO and READ
//! report one of the two generations, the EEPROM's committed slot holds a blob that decodes
//! with that generation, and after `station recover` and `station identify` the record and the
//! unit agree (generation, nothing pending, the unit's password accepted by the record's hash).
//!
//! Needs `avr-gcc` and simavr's library (`scripts/setup-deps.sh`: gcc-avr avr-libc
//! libsimavr-dev); builds with `make -C firmware avr-eeprom sim`.

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use station_core::credentials::{verify_password, Secret};
use station_core::{FlashState, Store};
use station_e2e::{repo_root, workspace_bin};
use station_protocol::{Client, Key, SerialTransport, StoredConfig};

/// The runner's exit status when it cut the power (firmware/sim/dh_simavr.c).
const EXIT_POWER_CUT: i32 = 3;
/// Argon2 parameters small enough for tests.
const FAST_HASH: &str = "argon2:m=256,t=1,p=1";
const DEVICE_ID: &str = "farm-weatherstation-001";
/// How a cut byte write leaves its byte (the runner's --cut-mode).
const CUT_MODES: [&str; 2] = ["before", "torn"];

fn firmware_dir() -> PathBuf {
    repo_root().join("firmware")
}

/// `make -C firmware <targets>`, serialised across test processes with flock(1).
fn make_firmware(targets: &[&str]) {
    let fw = firmware_dir();
    fs::create_dir_all(fw.join("build")).expect("create firmware/build");
    let out = Command::new("flock")
        .arg(fw.join("build/.make.lock"))
        .args(["make", "-s", "-C"])
        .arg(&fw)
        .args(targets)
        .output()
        .expect("run flock and make (util-linux, make)");
    assert!(
        out.status.success(),
        "make -C firmware {} failed (the Debian packages gcc-avr avr-libc libsimavr-dev are \
         needed: bash scripts/setup-deps.sh):\n{}{}",
        targets.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

struct Build {
    elf: PathBuf,
    runner: PathBuf,
}

fn build() -> Build {
    make_firmware(&["avr-eeprom", "sim"]);
    let b = firmware_dir().join("build");
    Build {
        elf: b.join("avr-eeprom/dh-avr-eeprom.elf"),
        runner: b.join("sim/dh-simavr"),
    }
}

// ---- The EEPROM image, as firmware/ports/avr_eeprom/dh_nv_avr_eeprom.h lays it out ---------

/// The layout's constants, read from the port's header (one place for them).
struct Layout {
    slot_span: usize,
    header: usize,
    committed: u8,
}

fn layout() -> Layout {
    let text = fs::read_to_string(firmware_dir().join("ports/avr_eeprom/dh_nv_avr_eeprom.h"))
        .expect("read dh_nv_avr_eeprom.h");
    let define = |name: &str| -> usize {
        let v = text
            .lines()
            .find_map(|l| l.strip_prefix(&format!("#define {name} ")))
            .unwrap_or_else(|| panic!("no #define {name} in dh_nv_avr_eeprom.h"))
            .trim()
            .trim_end_matches('u');
        match v.strip_prefix("0x") {
            Some(hex) => usize::from_str_radix(hex, 16),
            None => v.parse(),
        }
        .unwrap_or_else(|e| panic!("{name} = {v}: {e}"))
    };
    Layout {
        slot_span: define("DH_NV_EE_SLOT_SPAN"),
        header: define("DH_NV_EE_HEADER"),
        committed: u8::try_from(define("DH_NV_EE_COMMITTED")).expect("a byte"),
    }
}

/// The blob of the newest marked slot (marker, seq, len, then the blob), or None.
fn committed_blob(image: &[u8], l: &Layout) -> Option<Vec<u8>> {
    let slot = |i: usize| &image[i * l.slot_span..(i + 1) * l.slot_span];
    let marked = |i: usize| slot(i)[0] == l.committed;
    let current = match (marked(0), marked(1)) {
        (true, true) => usize::from((slot(1)[1].wrapping_sub(slot(0)[1]) as i8) > 0),
        (true, false) => 0,
        (false, true) => 1,
        (false, false) => return None,
    };
    let s = slot(current);
    let len = usize::from(u16::from_le_bytes([s[2], s[3]]));
    (len > 0 && l.header + len <= l.slot_span).then(|| s[l.header..l.header + len].to_vec())
}

fn stored_config(eeprom: &Path) -> Option<StoredConfig> {
    let image = fs::read(eeprom).expect("read the EEPROM file");
    committed_blob(&image, &layout()).and_then(|b| StoredConfig::from_blob(&b).ok())
}

// ---- The board under simavr ------------------------------------------------------------

struct Board {
    child: Child,
    port: String,
    stderr: PathBuf,
}

impl Board {
    fn power_on(b: &Build, dir: &Path, cut: Option<(u32, &str)>) -> Board {
        let stderr = dir.join("runner.txt");
        let mut cmd = Command::new(&b.runner);
        cmd.arg("--eeprom")
            .arg(dir.join("eeprom.bin"))
            .arg("--uart-log")
            .arg(dir.join("uart.log"));
        if let Some((k, mode)) = cut {
            cmd.args(["--cut-at", &k.to_string(), "--cut-mode", mode]);
        }
        let mut child = cmd
            .arg(&b.elf)
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
    fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
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
    fn power_off(mut self) -> u32 {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let status = self
            .wait_exit(Duration::from_secs(10))
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

fn station(db: &Path, args: &[&str]) -> Output {
    Command::new(workspace_bin("station-cli", "station"))
        .args(args)
        .env("STATION_DB", db)
        .env("STATION_OPERATOR", "eeprom-test")
        .stdin(Stdio::null())
        .output()
        .expect("run station")
}

fn station_ok(db: &Path, args: &[&str]) -> String {
    let out = station(db, args);
    assert!(
        out.status.success(),
        "station {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// HELLO and READ device_id over the unit's UART: the generation it boots with.
fn hello(port: &str) -> (Option<String>, Option<u32>) {
    let transport = SerialTransport::open(port).expect("open the board's pty");
    let id = Client::new(transport).hello().expect("HELLO + READ");
    (id.device_id, id.generation)
}

/// The record of DEVICE_ID and what the EEPROM holds agree: same generation, nothing pending,
/// the unit's password accepted by the record's hash.
fn assert_settled(db: &Path, held: &StoredConfig, ctx: &str) {
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

fn copy_state(from: &Path, to: &Path) {
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

/// Provisions, re-flashes (so both slots hold a committed config and the next commit
/// overwrites the older one), and returns the directory holding that state.
fn provisioned_base(b: &Build, root: &Path) -> PathBuf {
    let base = root.join("base");
    fs::create_dir_all(&base).expect("mkdir");
    let db = base.join("station.sqlite3");
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
        station_ok(&db, &args);
    }
    let board = Board::power_on(b, &base, None);
    station_ok(&db, &["flash", "--port", &board.port, "--batch", "1"]);
    station_ok(&db, &["reflash", "--port", &board.port]);
    assert_eq!(hello(&board.port), (Some(DEVICE_ID.into()), Some(2)));
    board.power_off();
    let held = stored_config(&base.join("eeprom.bin")).expect("a committed config in EEPROM");
    assert_settled(&db, &held, "after provisioning");
    base
}

/// One re-flash from `base` with power cut at EEPROM write `k` (`mode`), then a power-up that
/// must find the old config or the new one and a station that settles its record to match.
/// The generation the unit booted with, or None if the commit ended before write k.
fn cut_run(b: &Build, base: &Path, root: &Path, k: u32, mode: &str) -> Option<u32> {
    let ctx = format!("power cut at EEPROM write {k} ({mode})");
    let run = root.join("run");
    copy_state(base, &run);
    let db = run.join("station.sqlite3");
    let mut board = Board::power_on(b, &run, Some((k, mode)));
    let flash = station(&db, &["reflash", "--port", &board.port]);
    let Some(status) = board.wait_exit(Duration::from_secs(5)) else {
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
    let board = Board::power_on(b, &run, None);
    let (id, generation) = hello(&board.port);
    assert_eq!(
        id.as_deref(),
        Some(DEVICE_ID),
        "{ctx}: the unit lost its identity"
    );
    let generation = match generation {
        Some(g @ (2 | 3)) => g,
        other => panic!("{ctx}: the unit boots with generation {other:?}, not 2 or 3"),
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
    let held = stored_config(&run.join("eeprom.bin"))
        .unwrap_or_else(|| panic!("{ctx}: no committed config in the EEPROM"));
    assert_eq!(held.generation(), generation, "{ctx}");
    assert_settled(&db, &held, &ctx);
    Some(generation)
}

/// The station provisions the unit, the config survives power cycles in the EEPROM file, and
/// a re-flash's commit writes the EEPROM only inside COMMIT.
#[test]
fn simavr_eeprom_unit_is_provisioned_by_the_station_and_keeps_its_config() {
    let b = build();
    let root = tempfile::tempdir().expect("tempdir");
    let base = provisioned_base(&b, root.path());
    // Power cycles without a flash write nothing and keep generation 2.
    let board = Board::power_on(&b, &base, None);
    assert_eq!(hello(&board.port), (Some(DEVICE_ID.into()), Some(2)));
    assert_eq!(board.power_off(), 0, "a boot and a HELLO wrote the EEPROM");
}

/// Power cut at every EEPROM byte write of a re-flash's commit: the unit boots with the old
/// config or the new one, and the station settles its record to match.
#[test]
fn simavr_power_cut_at_every_eeprom_write_of_a_commit_leaves_old_or_new() {
    let b = build();
    let root = tempfile::tempdir().expect("tempdir");
    let base = provisioned_base(&b, root.path());

    // A clean re-flash from the same state: how many EEPROM writes one commit makes.
    let dry = root.path().join("dry");
    copy_state(&base, &dry);
    let board = Board::power_on(&b, &dry, None);
    station_ok(
        &dry.join("station.sqlite3"),
        &["reflash", "--port", &board.port],
    );
    let writes = board.power_off();
    assert!(writes > 0, "the re-flash wrote no EEPROM byte");
    eprintln!("one re-flash commits with {writes} EEPROM byte writes");

    let (mut cuts, mut old, mut new) = (0u32, 0u32, 0u32);
    let mut count = |generation: u32| {
        cuts += 1;
        match generation {
            2 => old += 1,
            _ => new += 1,
        }
    };
    // The password is random per re-flash, so a byte may happen to hold its new value already
    // (eeprom_update_byte skips it): go on until a run finishes its commit before write k.
    let mut k = 1u32;
    'positions: loop {
        for mode in CUT_MODES {
            match cut_run(&b, &base, root.path(), k, mode) {
                Some(generation) => count(generation),
                None => break 'positions,
            }
        }
        k += 1;
    }
    let positions = k - 1;
    // The last write (the commit marker) landed, then the power failed before the reply.
    count(cut_run(&b, &base, root.path(), positions, "after").expect("a cut at the last write"));
    eprintln!(
        "{cuts} power cuts at {positions} EEPROM write positions (each {CUT_MODES:?}, and \
         the last one 'after'): {old} booted the old config, {new} the new one"
    );
    assert!(
        positions >= writes.saturating_sub(writes / 8),
        "{positions} cut points for a commit of {writes} writes"
    );
    assert!(old > 0 && new > 0, "every cut gave the same outcome");
}
