//! The device side of docs/protocol.md in C (`firmware/`), proven against the station's real
//! flashing pipeline exactly as the Rust simulator is.
//!
//! The same scenarios run against three units: the Rust simulator (`station-devsim`), the C
//! module built for the host on a pseudo-terminal (`firmware/build/host/dh-host`), and the C
//! module inside the ATmega328P example firmware under `qemu-system-avr`, its UART on a
//! pseudo-terminal and its config storage kept across power cycles with QMP `pmemsave` and
//! QEMU's loader. Each scenario drives `station_e2e::flash_port` (or `flash::run` when
//! it must corrupt a frame in flight) and checks what the unit holds against the station's
//! record: correct credentials stored, digest verified, a corrupted frame rejected, an
//! interrupted commit leaving the old credentials in place.
//!
//! A differential test feeds the Rust device model and the C module the same byte streams and
//! requires the same answers and the same stored blob, byte for byte.
//!
//! The firmware is built with `make -C firmware host avr` from here (one build at a time across
//! test processes), so `cargo nextest run --workspace` alone works on a machine where
//! `scripts/setup-deps.sh` ran. Without `qemu-system-avr` or `avr-gcc` the AVR tests fail and
//! say what to install.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use station_core::credentials::{verify_password, Secret};
use station_core::flash::{self, FlashFailure, FlashJob, FlashOutcome, FlashStep};
use station_core::{
    Actor, BatchRequest, CoreError, Device, FlashState, FlashTarget, NewDeviceType, Resolution,
    Store,
};
use station_devsim::{PowerLoss, SimExit, SimHandle, SimOptions, Simulator};
use station_protocol::codec::{escape_value, Frame, FrameDecoder};
use station_protocol::config::config_digest;
use station_protocol::message::{stage_chunks, stage_frame_overhead, Request};
use station_protocol::{
    spec, Client, DeviceConfig, DeviceErrorCode, DeviceModel, Key, MemoryStorage, ProtocolError,
    SerialTransport, StoredConfig, Transport,
};
use zeroize::Zeroizing;

// ---- Where things are, and building them --------------------------------------------------

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

fn firmware_dir() -> PathBuf {
    repo_root().join("firmware")
}

/// `make -C firmware <targets>`, serialised across test processes with flock(1): nextest runs
/// every test in its own process, and two makes writing the same files would race.
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
        "make -C firmware {} failed:\n{}{}",
        targets.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn host_binary() -> PathBuf {
    make_firmware(&["host"]);
    firmware_dir().join("build/host/dh-host")
}

/// The host device built with `-DDH_RX_FRAME_LEN=64`: it lists FRAME64 (spec §10.2).
fn host_binary_frame64() -> PathBuf {
    make_firmware(&["host"]);
    firmware_dir().join("build/host/dh-host-frame64")
}

fn require_tool(tool: &str, packages: &str) {
    let found = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "{tool} was not found, and the ATmega328P end-to-end tests need it. Install the Debian \
         packages {packages} (`bash scripts/setup-deps.sh` does)."
    );
}

/// Addresses in the AVR firmware the harness needs (QEMU data addresses, 0x800000 + RAM).
#[derive(Debug, Clone, Copy)]
struct AvrSymbols {
    nv: (u64, u64),
    fault: u64,
    halted: u64,
}

struct AvrBuild {
    elf: PathBuf,
    syms: AvrSymbols,
}

fn avr_build() -> AvrBuild {
    require_tool("avr-gcc", "gcc-avr avr-libc binutils-avr");
    require_tool("qemu-system-avr", "qemu-system-misc");
    make_firmware(&["avr"]);
    let dir = firmware_dir().join("build/avr");
    let text = fs::read_to_string(dir.join("dh-avr.syms")).expect("read dh-avr.syms");
    let mut nv = None;
    let mut fault = None;
    let mut halted = None;
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).expect("hex");
        match f.as_slice() {
            ["dh_nv", a, n] => nv = Some((hex(a), hex(n))),
            ["dh_fault", a, _] => fault = Some(hex(a)),
            ["dh_halted", a, _] => halted = Some(hex(a)),
            _ => {}
        }
    }
    AvrBuild {
        elf: dir.join("dh-avr.elf"),
        syms: AvrSymbols {
            nv: nv.expect("dh_nv in dh-avr.syms"),
            fault: fault.expect("dh_fault in dh-avr.syms"),
            halted: halted.expect("dh_halted in dh-avr.syms"),
        },
    }
}

/// Stack budget the C header promises (`DH_STACK_BUDGET`).
fn stated_stack_budget() -> u32 {
    let header =
        fs::read_to_string(firmware_dir().join("include/dh_device.h")).expect("read header");
    header
        .lines()
        .find_map(|l| l.strip_prefix("#define DH_STACK_BUDGET "))
        .and_then(|v| v.trim().trim_end_matches('u').parse().ok())
        .expect("DH_STACK_BUDGET in dh_device.h")
}

// ---- The station side: a store like station-core's tests use -----------------------------

/// Argon2 parameters small enough for tests (as crates/station-core/tests/common).
const FAST_HASH: &str = "argon2:m=64,t=1,p=1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    RustSim,
    HostC,
    Avr,
}

/// A fault to inject into the next run of a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    /// Power lost in the middle of COMMIT: the simulator dies when COMMIT arrives; the C
    /// units die halfway through writing the new config (a torn temp file on the host, a
    /// complete but unselected slot on the AVR).
    InterruptCommit,
    /// The new config is stored, then power is lost before the reply.
    PowerLossAfterCommit,
}

struct Lab {
    kind: Kind,
    store: Store,
    actor: Actor,
    dir: tempfile::TempDir,
}

impl Lab {
    fn new(kind: Kind) -> Lab {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(dir.path().join("station.sqlite3")).expect("open store");
        store
            .set_setting("hash_algorithm", FAST_HASH)
            .expect("hash setting");
        store
            .set_setting("station_id", "line-1")
            .expect("station id");
        store
            .add_type(NewDeviceType {
                name: "WeatherStation".into(),
                app_label: "myapp".into(),
                ..Default::default()
            })
            .expect("add type");
        let actor = Actor::new("alice", "line-1").expect("actor");
        Lab {
            kind,
            store,
            actor,
            dir,
        }
    }

    fn batch(&mut self, count: u32) -> i64 {
        self.store
            .create_batch(
                &BatchRequest {
                    device_type: "WeatherStation".into(),
                    prefix: "farm-".into(),
                    count,
                    with_credentials: false,
                    lot: None,
                    work_order: None,
                },
                &self.actor,
            )
            .expect("batch")
            .batch
            .id
    }

    fn start(&self, name: &str, fault: Fault) -> Unit {
        let path = |ext: &str| self.dir.path().join(format!("{name}.{ext}"));
        match self.kind {
            Kind::RustSim => {
                let power_loss = match fault {
                    Fault::None => None,
                    Fault::InterruptCommit => Some(PowerLoss::BeforeCommit),
                    Fault::PowerLossAfterCommit => Some(PowerLoss::AfterCommit),
                };
                let flash = path("flash");
                let sim = Simulator::start(SimOptions {
                    flash: Some(flash.clone()),
                    power_loss,
                    boot_noise: true,
                    debug_prints: true,
                    ..Default::default()
                })
                .expect("start simulator");
                Unit::Sim { sim, flash }
            }
            Kind::HostC => Unit::Host(HostUnit::start(&path("flash"), &path("uart.log"), fault)),
            Kind::Avr => Unit::Avr(AvrUnit::start(
                &avr_build(),
                &path("nv"),
                &path("uart.log"),
                self.dir.path(),
                fault,
            )),
        }
    }

    fn flash(&mut self, unit: &Unit, job: &FlashJob) -> Result<FlashOutcome, FlashFailure> {
        let mut steps = Vec::new();
        let result =
            station_e2e::flash_port(&mut self.store, unit.port(), job, &self.actor, &mut |s| {
                steps.push(s)
            });
        assert_eq!(steps.first(), Some(&FlashStep::Connect));
        result
    }

    fn device(&self, id: &str) -> Device {
        self.store.find_device(id).expect("device")
    }
}

fn provision(batch: i64) -> FlashJob {
    FlashJob::Provision {
        target: FlashTarget::NextInBatch(batch),
        overwrite_foreign: false,
    }
}

fn reflash() -> FlashJob {
    FlashJob::Reflash {
        expected_device_id: None,
        confirm_unbound: false,
    }
}

fn reason(failure: &FlashFailure) -> &str {
    match &failure.error {
        CoreError::Device { reason, .. } => reason.as_str(),
        other => panic!("expected a device failure, got {other}"),
    }
}

/// The record and the unit agree (as crates/station-core/tests/flash.rs checks): a record that
/// claims generation g holds exactly what the unit holds, including a password the record's
/// hash accepts; the unit never holds credentials the record cannot verify.
fn assert_consistent(store: &Store, unit: Option<&StoredConfig>, device_id: &str) {
    let d = store.find_device(device_id).expect("device");
    let held_here = unit.filter(|c| c.get_str(Key::DeviceId) == device_id);
    match (d.flash_state, held_here) {
        (FlashState::Flashed, Some(c)) => {
            assert_eq!(c.generation(), d.generation, "{device_id}: generation");
            assert_eq!(c.get_str(Key::MqttUsername), d.mqtt_username);
            assert_eq!(c.get_str(Key::TopicData), d.topics.data);
            assert_eq!(c.get_str(Key::TopicStatus), d.topics.status);
            assert_eq!(c.get_str(Key::TopicCmd), d.topics.cmd);
            let hash = store
                .password_hash(device_id)
                .expect("hash")
                .expect("a flashed record has a hash");
            let pw = Secret::new(c.get_str(Key::MqttPassword).to_owned());
            assert!(
                verify_password(&pw, &hash).expect("verify"),
                "{device_id}: the unit's password fails the record's hash"
            );
            assert_eq!(d.pending_generation, None);
        }
        (FlashState::Flashed, None) => {
            panic!("{device_id}: the record claims a flash the unit does not hold")
        }
        (_, Some(c)) if d.pending_generation == Some(c.generation()) => {}
        (state, Some(c)) => panic!(
            "{device_id}: the unit holds generation {} but the record is {state:?}",
            c.generation()
        ),
        (_, None) => {}
    }
}

// ---- Units ---------------------------------------------------------------------------------

/// A running unit, whichever implementation.
enum Unit {
    Sim { sim: SimHandle, flash: PathBuf },
    Host(HostUnit),
    Avr(AvrUnit),
}

impl Unit {
    fn port(&self) -> &str {
        match self {
            Unit::Sim { sim, .. } => sim.port_path(),
            Unit::Host(h) => &h.port,
            Unit::Avr(a) => &a.port,
        }
    }

    /// The stored config blob, as the unit's storage holds it now.
    fn blob(&self) -> Option<Vec<u8>> {
        match self {
            // The simulator's file is sealed (no plaintext secret on disk): its blob, opened with
            // this process's key.
            Unit::Sim { flash, .. } => {
                use station_protocol::device::Storage;
                let key = station_devsim::FlashKey::process().ok()?;
                station_devsim::Flash::file(flash, key, None)
                    .load()
                    .ok()
                    .flatten()
            }
            Unit::Host(h) => fs::read(&h.flash).ok(),
            Unit::Avr(a) => a.blob(),
        }
    }

    fn contents(&self) -> Option<StoredConfig> {
        self.blob().and_then(|b| StoredConfig::from_blob(&b).ok())
    }

    /// What the unit printed on its UART (the C units only).
    fn uart_log(&self) -> Option<String> {
        match self {
            Unit::Sim { .. } => None,
            Unit::Host(h) => Some(String::from_utf8_lossy(&fs::read(&h.log).ok()?).into_owned()),
            Unit::Avr(a) => Some(String::from_utf8_lossy(&fs::read(&a.log).ok()?).into_owned()),
        }
    }

    /// Waits for the injected power loss to end the unit, and checks it was that.
    fn wait_power_loss(self) {
        match self {
            Unit::Sim { sim, .. } => {
                let deadline = Instant::now() + Duration::from_secs(10);
                while !sim.is_finished() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(10));
                }
                let exit = sim.wait().expect("simulator ended");
                assert!(
                    matches!(
                        exit,
                        SimExit::PowerLossBeforeCommit | SimExit::PowerLossAfterCommit
                    ),
                    "{exit:?}"
                );
            }
            Unit::Host(mut h) => {
                let status = h.wait(Duration::from_secs(10)).expect("dh-host exited");
                assert!(
                    matches!(status.code(), Some(12 | 13)),
                    "dh-host exit status {status}"
                );
            }
            Unit::Avr(a) => a.wait_power_loss(),
        }
    }

    fn stop(self) {
        match self {
            Unit::Sim { sim, .. } => sim.stop(),
            Unit::Host(h) => drop(h),
            Unit::Avr(a) => a.power_off(),
        }
    }
}

/// The C module on the host, on a pseudo-terminal, its blob in a file.
struct HostUnit {
    child: Child,
    port: String,
    flash: PathBuf,
    log: PathBuf,
}

impl HostUnit {
    fn start(flash: &Path, log: &Path, fault: Fault) -> HostUnit {
        let mut cmd = Command::new(host_binary());
        cmd.arg("--flash")
            .arg(flash)
            .arg("--log")
            .arg(log)
            .args(["--boot-noise", "--debug-prints"]);
        match fault {
            Fault::None => {}
            Fault::InterruptCommit => {
                cmd.args(["--power-loss", "during-commit"]);
            }
            Fault::PowerLossAfterCommit => {
                cmd.args(["--power-loss", "after-commit"]);
            }
        }
        let stderr = File::create(log.with_extension("stderr")).expect("stderr file");
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start dh-host");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the port path");
        let port = line.trim().to_owned();
        assert!(port.starts_with("/dev/"), "dh-host printed {line:?}");
        HostUnit {
            child,
            port,
            flash: flash.to_owned(),
            log: log.to_owned(),
        }
    }

    fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for HostUnit {
    fn drop(&mut self) {
        // Our own child; its blob file is replaced atomically, so a kill loses nothing.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A QMP connection (one JSON object per line).
struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Qmp {
    fn connect(path: &Path, limit: Duration) -> io::Result<Qmp> {
        let deadline = Instant::now() + limit;
        let stream = loop {
            match UnixStream::connect(path) {
                Ok(s) => break s,
                Err(e) if Instant::now() > deadline => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        };
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut qmp = Qmp {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
        };
        let mut greeting = String::new();
        qmp.reader.read_line(&mut greeting)?;
        qmp.execute("qmp_capabilities", serde_json::json!({}))?;
        Ok(qmp)
    }

    fn execute(&mut self, command: &str, args: serde_json::Value) -> io::Result<serde_json::Value> {
        let request = serde_json::json!({"execute": command, "arguments": args});
        writeln!(self.writer, "{request}")?;
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "QMP closed"));
            }
            let reply: serde_json::Value = serde_json::from_str(&line)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            if let Some(r) = reply.get("return") {
                return Ok(r.clone());
            }
            if let Some(e) = reply.get("error") {
                return Err(io::Error::other(format!("QMP {command}: {e}")));
            }
            // An asynchronous event (RESUME, SHUTDOWN...): not our answer.
        }
    }

    fn save_memory(&mut self, addr: u64, size: u64, file: &Path) -> io::Result<()> {
        self.execute(
            "pmemsave",
            serde_json::json!({"val": addr, "size": size, "filename": file}),
        )
        .map(drop)
    }

    fn read_byte(&mut self, addr: u64) -> io::Result<u8> {
        let text = self.execute(
            "human-monitor-command",
            serde_json::json!({"command-line": format!("xp /1bx {addr:#x}")}),
        )?;
        // "00000000008001fe: 0x01"
        text.as_str()
            .and_then(|s| s.split_whitespace().last())
            .and_then(|v| u8::from_str_radix(v.trim_start_matches("0x"), 16).ok())
            .ok_or_else(|| io::Error::other(format!("unexpected xp output {text}")))
    }
}

/// The ATmega328P firmware under qemu-system-avr. Its config storage is RAM (QEMU emulates no
/// EEPROM): saved to `nv` when the board is switched off, loaded back when it is switched on.
struct AvrUnit {
    qemu: Child,
    port: String,
    syms: AvrSymbols,
    nv: PathBuf,
    log: PathBuf,
    qmp: Arc<Mutex<Option<Qmp>>>,
    watcher: Option<JoinHandle<()>>,
    halted: Arc<AtomicBool>,
    /// Holds the pty slave open for the unit's life, as a USB bridge is always there: QEMU
    /// only notices a newly opened pty once a second, which would add that to every open.
    _keeper: File,
}

/// Linux's O_NOCTTY: opening the pty must not make it our controlling terminal.
const O_NOCTTY: i32 = 0o400;
/// Linux's O_NONBLOCK, for polling the keeper while the board boots.
const O_NONBLOCK: i32 = 0o4000;

/// Waits until the board answers on its UART, as a technician waits for a board to boot:
/// QEMU notices an opened pty only on its next once-a-second poll, and the station's timings
/// should measure the protocol, not that. The probe's seq (FE) is one the station's first
/// requests never use, so a late answer cannot be mistaken for theirs.
fn wait_until_answering(port: &mut File) {
    let probe = Request::Hello { version: 1 }.encode(0xFE);
    let mut decoder = FrameDecoder::new();
    let mut buf = [0u8; 256];
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut answered = false;
    while !answered {
        assert!(
            Instant::now() < deadline,
            "the emulated board never answered"
        );
        port.write_all(&probe).expect("write to the pty");
        let until = Instant::now() + Duration::from_millis(200);
        while !answered && Instant::now() < until {
            match port.read(&mut buf) {
                Ok(n) => answered = decoder.push_slice(&buf[..n]).iter().any(|f| f.seq == 0xFE),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Err(e) => panic!("reading the emulated UART: {e}"),
            }
        }
    }
    // Drain what follows the answer (its debug line, answers to earlier probes).
    let mut quiet_since = Instant::now();
    while quiet_since.elapsed() < Duration::from_millis(100) {
        match port.read(&mut buf) {
            Ok(n) if n > 0 => quiet_since = Instant::now(),
            _ => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

impl AvrUnit {
    fn start(build: &AvrBuild, nv: &Path, log: &Path, dir: &Path, fault: Fault) -> AvrUnit {
        let sock = dir.join(format!("qmp-{}.sock", std::process::id()));
        let _ = fs::remove_file(&sock);
        let stderr_path = log.with_extension("qemu.txt");
        let mut cmd = Command::new("timeout");
        // A hung emulator must not hang the test run.
        cmd.args([
            "-k",
            "5",
            "180",
            "qemu-system-avr",
            "-machine",
            "uno",
            "-bios",
        ])
        .arg(&build.elf)
        .args(["-display", "none", "-monitor", "none", "-S", "-chardev"])
        .arg(format!(
            "pty,id=uart,logfile={},logappend=on",
            log.display()
        ))
        .args(["-serial", "chardev:uart", "-qmp"])
        .arg(format!("unix:{},server=on,wait=off", sock.display()));
        if nv.exists() {
            cmd.arg("-device").arg(format!(
                "loader,file={},addr={:#x},force-raw=on",
                nv.display(),
                build.syms.nv.0
            ));
        }
        let fault_code = match fault {
            Fault::None => 0,
            Fault::InterruptCommit => 2,
            Fault::PowerLossAfterCommit => 3,
        };
        if fault_code != 0 {
            cmd.arg("-device").arg(format!(
                "loader,addr={:#x},data={fault_code},data-len=1",
                build.syms.fault
            ));
        }
        // QEMU names the pty on stdout ("char device redirected to ..."), warnings go to stderr.
        let output = File::create(&stderr_path).expect("QEMU output file");
        let qemu = cmd
            .stdout(output.try_clone().expect("clone file"))
            .stderr(output)
            .spawn()
            .expect("start qemu-system-avr");
        let port = wait_for_pty_name(&stderr_path, Duration::from_secs(20));
        let mut keeper = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(O_NOCTTY | O_NONBLOCK)
            .open(&port)
            .expect("open the emulated UART's pty");
        let mut qmp = Qmp::connect(&sock, Duration::from_secs(20)).expect("QMP");
        qmp.execute("cont", serde_json::json!({})).expect("cont");
        wait_until_answering(&mut keeper);
        let qmp = Arc::new(Mutex::new(Some(qmp)));
        let halted = Arc::new(AtomicBool::new(false));
        let watcher = (fault != Fault::None).then(|| {
            let (qmp, halted, syms, nv) = (
                Arc::clone(&qmp),
                Arc::clone(&halted),
                build.syms,
                nv.to_owned(),
            );
            // The firmware sets dh_halted where power fails; the board is then switched off,
            // its RAM kept as the storage of the next run.
            std::thread::spawn(move || loop {
                std::thread::sleep(Duration::from_millis(20));
                let mut guard = qmp.lock().unwrap_or_else(|e| e.into_inner());
                let Some(q) = guard.as_mut() else { return };
                if q.read_byte(syms.halted).unwrap_or(0) == 1 {
                    let _ = q.save_memory(syms.nv.0, syms.nv.1, &nv);
                    let _ = q.execute("quit", serde_json::json!({}));
                    *guard = None;
                    halted.store(true, Ordering::SeqCst);
                    return;
                }
            })
        });
        AvrUnit {
            qemu,
            port,
            syms: build.syms,
            nv: nv.to_owned(),
            log: log.to_owned(),
            qmp,
            watcher,
            halted,
            _keeper: keeper,
        }
    }

    fn blob(&self) -> Option<Vec<u8>> {
        let mut guard = self.qmp.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(q) = guard.as_mut() {
            q.save_memory(self.syms.nv.0, self.syms.nv.1, &self.nv)
                .expect("pmemsave");
        }
        avr_blob(&fs::read(&self.nv).ok()?)
    }

    fn wait_power_loss(mut self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !self.halted.load(Ordering::SeqCst) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            self.halted.load(Ordering::SeqCst),
            "the firmware never lost power"
        );
        if let Some(w) = self.watcher.take() {
            let _ = w.join();
        }
        self.power_off();
    }

    /// Switches the board off, keeping its storage for the next run.
    fn power_off(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let mut guard = self.qmp.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(mut q) = guard.take() {
            let _ = q.save_memory(self.syms.nv.0, self.syms.nv.1, &self.nv);
            let _ = q.execute("quit", serde_json::json!({}));
        }
        drop(guard);
        if let Some(w) = self.watcher.take() {
            let _ = w.join();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(self.qemu.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if matches!(self.qemu.try_wait(), Ok(None)) {
            // `timeout` passes SIGTERM on to QEMU (a SIGKILL would orphan QEMU instead).
            let _ = Command::new("kill")
                .arg(self.qemu.id().to_string())
                .status();
            let _ = self.qemu.wait();
        }
    }
}

impl Drop for AvrUnit {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn wait_for_pty_name(output: &Path, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    loop {
        let text = fs::read_to_string(output).unwrap_or_default();
        // "char device redirected to /dev/pts/3 (label uart)"
        if let Some(rest) = text.split("redirected to ").nth(1) {
            if let Some(name) = rest.split_whitespace().next() {
                return name.to_owned();
            }
        }
        assert!(
            Instant::now() < deadline,
            "qemu-system-avr did not report its pty:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The committed blob in the AVR firmware's storage region (`struct nv` in firmware/avr/main.c,
/// whose layout `station_protocol::slot_image` owns).
fn avr_blob(nv: &[u8]) -> Option<Vec<u8>> {
    station_protocol::slot_image::committed_blob(nv).map(<[u8]>::to_vec)
}

// ---- Scenarios -----------------------------------------------------------------------------

/// Provisioning stores exactly the credentials the record can verify; the unit refuses a
/// COMMIT whose digest does not match what was staged, and one for another unit; a re-flash
/// rotates.
fn provision_reflash_and_refuse_bad_digests(kind: Kind) {
    let mut lab = Lab::new(kind);
    let batch = lab.batch(2);
    let unit = lab.start("u1", Fault::None);
    let out = lab
        .flash(&unit, &provision(batch))
        .expect("provisioning passes");
    eprintln!(
        "{kind:?}: one provisioning took {} ms ({} frames, {} retries, {} bytes sent, {} \
         received)",
        out.elapsed_ms,
        out.stats.frames_sent,
        out.stats.retries,
        out.stats.bytes_sent,
        out.stats.bytes_received
    );
    let id = "farm-weatherstation-001";
    assert_eq!(out.device.device_id, id);
    assert_eq!(out.device.flash_state, FlashState::Flashed);
    assert_eq!(out.device.generation, 1);
    assert_eq!(
        out.device.hardware_id.as_deref(),
        Some(out.hardware_id.as_str())
    );
    let blob = unit.blob().expect("the unit stored a blob");
    // The blob is the canonical encoding followed by its SHA-256: from_blob checks both.
    let held = StoredConfig::from_blob(&blob).expect("a well-formed, digest-checked blob");
    eprintln!("{kind:?}: the stored blob is {} bytes", blob.len());
    assert_eq!(held.get_str(Key::BrokerHost), "localhost");
    assert_eq!(held.get_str(Key::BrokerPort), "1883");
    assert_eq!(held.get_str(Key::BrokerTls), "0");
    assert_eq!(&blob[blob.len() - 32..], &held.digest()[..]);
    assert_consistent(&lab.store, Some(&held), id);

    // A write whose digest does not cover what was staged, and one addressed to another unit:
    // both refused, nothing changes.
    {
        let transport = SerialTransport::open(unit.port()).expect("open port");
        let mut client = Client::new(transport);
        let identity = client.hello().expect("hello");
        assert_eq!(identity.device_id.as_deref(), Some(id));
        assert_eq!(identity.generation, Some(1));
        let mut cfg = held.to_device_config().expect("config");
        cfg.generation = 99;
        cfg.mqtt_password = zeroize_string("not-the-password");
        let refused = write_with(&mut client, &cfg, |_| [0u8; 32], &identity.hardware_id);
        assert_device_code(refused, DeviceErrorCode::DigestMismatch);
        let refused = write_with(&mut client, &cfg, config_digest, "0102030405060708");
        assert_device_code(refused, DeviceErrorCode::HwidMismatch);
        let identity = client.hello().expect("hello");
        assert_eq!(identity.generation, Some(1));
    }
    assert_eq!(
        unit.blob().as_deref(),
        Some(&blob[..]),
        "a refused COMMIT changed the unit"
    );

    let out = lab.flash(&unit, &reflash()).expect("re-flash passes");
    assert!(out.rotated);
    assert_eq!(out.device.generation, 2);
    assert_consistent(&lab.store, unit.contents().as_ref(), id);
    check_uart_log(&unit);
    unit.stop();
}

fn zeroize_string(s: &str) -> Zeroizing<String> {
    Zeroizing::new(s.to_owned())
}

/// BEGIN, STAGE of every key, COMMIT with `digest(cfg)` for `hardware_id`.
fn write_with(
    client: &mut Client<SerialTransport>,
    cfg: &DeviceConfig,
    digest: impl Fn(&DeviceConfig) -> [u8; 32],
    hardware_id: &str,
) -> Result<(), ProtocolError> {
    client.begin()?;
    for key in Key::ALL {
        let value = cfg.value(key);
        client.stage(key, std::str::from_utf8(&value).expect("utf-8"))?;
    }
    client.commit(&digest(cfg), hardware_id)
}

fn assert_device_code(result: Result<(), ProtocolError>, code: DeviceErrorCode) {
    match result {
        Err(ProtocolError::Device { code: got, .. }) => assert_eq!(got, code),
        other => panic!("expected {code}, got {other:?}"),
    }
}

/// What the C units printed: debug lines between the frames, and never a secret.
fn check_uart_log(unit: &Unit) {
    let Some(log) = unit.uart_log() else { return };
    let held = unit.contents().expect("held");
    for secret in [held.get_str(Key::MqttPassword), held.get_str(Key::ApiKey)] {
        assert!(!log.contains(secret), "a secret value reached the UART");
    }
    assert!(
        log.contains("[dh] STAGE mqtt_password 43 OK"),
        "debug lines show the key and length: {log}"
    );
    // Every frame the unit sent starts a line: debug output never cut into one. (The host
    // build's "[boot]" lines imitate a vendor boot ROM, which no library controls.)
    for line in log.split('\n').filter(|l| !l.starts_with("[boot]")) {
        if let Some(at) = line.find('@') {
            assert_eq!(at, 0, "an '@' inside a line: {line:?}");
        }
    }
}

/// Corrupted frames are dropped without a reply, before a session and within one, and the
/// flash still ends with exactly the right credentials.
fn corrupted_frames_are_rejected(kind: Kind) {
    let mut lab = Lab::new(kind);
    let batch = lab.batch(1);
    let unit = lab.start("u1", Fault::None);

    // Before the session: a bad-CRC BEGIN, a HELLO with a flipped body byte, a STAGE with one
    // bit changed; then one good HELLO. Only the good one may be answered.
    {
        let mut port = SerialTransport::open(unit.port()).expect("open port");
        let mut bytes = b"[test] line noise @ * %\r\n".to_vec();
        let mut bad_crc = Request::Begin.encode(0x11);
        let n = bad_crc.len();
        bad_crc[n - 3] = if bad_crc[n - 3] == b'0' { b'1' } else { b'0' };
        let mut bad_body = Request::Hello { version: 1 }.encode(0x12);
        bad_body[8] = b'h';
        let mut bad_stage = Frame::encode(0x13, &["STAGE", "device_id", "0", "evil"]);
        bad_stage[30] ^= 0x02;
        for f in [&bad_crc, &bad_body, &bad_stage] {
            bytes.extend_from_slice(f);
        }
        bytes.extend(Request::Hello { version: 1 }.encode(0x14));
        port.send(&bytes).expect("send");
        let mut decoder = FrameDecoder::new();
        let mut seqs = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut buf = [0u8; 256];
        while !seqs.contains(&0x14) && Instant::now() < deadline {
            let n = port
                .recv(&mut buf, Duration::from_millis(100))
                .expect("recv");
            seqs.extend(decoder.push_slice(&buf[..n]).iter().map(|f| f.seq));
        }
        assert_eq!(seqs, vec![0x14], "only the intact frame may be answered");
    }

    // Within the session: the first copy of the STAGE carrying the password arrives with one
    // byte of the value changed. Had the unit taken it, it would hold a password the record's
    // hash rejects (or refuse the COMMIT's digest).
    let corrupted = Arc::new(AtomicBool::new(false));
    let transport = CorruptFirstPasswordStage {
        inner: SerialTransport::open(unit.port()).expect("open port"),
        corrupted: Arc::clone(&corrupted),
    };
    let out = flash::run(
        &mut lab.store,
        transport,
        &provision(batch),
        &lab.actor,
        &mut |_| {},
    )
    .expect("the flash passes after the retransmission");
    assert!(corrupted.load(Ordering::SeqCst), "a frame was corrupted");
    assert!(
        out.stats.timeouts >= 1 && out.stats.retries >= 1,
        "the corrupted frame got no reply: {:?}",
        out.stats
    );
    assert_eq!(out.device.flash_state, FlashState::Flashed);
    assert_consistent(
        &lab.store,
        unit.contents().as_ref(),
        "farm-weatherstation-001",
    );
    unit.stop();
}

/// Changes one byte of the password in the first STAGE of `mqtt_password` sent, keeping the
/// frame's length and its (now wrong) CRC.
struct CorruptFirstPasswordStage {
    inner: SerialTransport,
    corrupted: Arc<AtomicBool>,
}

impl Transport for CorruptFirstPasswordStage {
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        let is_target = bytes.windows(19).any(|w| w == b"STAGE mqtt_password");
        if is_target && !self.corrupted.swap(true, Ordering::SeqCst) {
            let mut bad = bytes.to_vec();
            // The last value byte sits before " *XXXX\r\n"; passwords are URL-safe base64.
            let i = bad.len() - 9;
            bad[i] = if bad[i] == b'x' { b'y' } else { b'x' };
            return self.inner.send(&bad);
        }
        self.inner.send(bytes)
    }

    fn recv(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
        self.inner.recv(buf, timeout)
    }
}

/// Power lost during a re-flash's COMMIT: the unit keeps the old credentials byte for byte,
/// and the station settles the unknown outcome as "not flashed" on the next contact. Power
/// lost just after the commit: the new credentials are settled as flashed.
fn interrupted_commit_keeps_the_old_credentials(kind: Kind) {
    let mut lab = Lab::new(kind);
    let batch = lab.batch(1);
    let id = "farm-weatherstation-001";
    let unit = lab.start("u1", Fault::None);
    lab.flash(&unit, &provision(batch)).expect("provisioning");
    let before = unit.blob().expect("stored");
    unit.stop();

    let unit = lab.start("u1", Fault::InterruptCommit);
    let fail = lab.flash(&unit, &reflash()).expect_err("power lost");
    assert_eq!(reason(&fail), "commit_outcome_unknown", "{}", fail.error);
    unit.wait_power_loss();
    let d = lab.device(id);
    assert_eq!((d.generation, d.pending_generation), (1, Some(2)));

    let unit = lab.start("u1", Fault::None);
    assert_eq!(
        unit.blob().as_deref(),
        Some(&before[..]),
        "the interrupted commit changed the stored config"
    );
    let out = lab.flash(&unit, &FlashJob::Recover).expect("recover");
    assert_eq!(out.recovered, vec![(id.to_owned(), Resolution::Discarded)]);
    let d = lab.device(id);
    assert_eq!(
        (d.flash_state, d.generation, d.pending_generation),
        (FlashState::Flashed, 1, None)
    );
    assert_consistent(&lab.store, unit.contents().as_ref(), id);
    unit.stop();

    let unit = lab.start("u1", Fault::PowerLossAfterCommit);
    let fail = lab.flash(&unit, &reflash()).expect_err("power lost");
    assert_eq!(reason(&fail), "commit_outcome_unknown", "{}", fail.error);
    unit.wait_power_loss();
    let pending = lab.device(id).pending_generation.expect("pending kept");
    let unit = lab.start("u1", Fault::None);
    let out = lab.flash(&unit, &FlashJob::Recover).expect("recover");
    assert_eq!(out.recovered, vec![(id.to_owned(), Resolution::Promoted)]);
    assert_eq!(lab.device(id).generation, pending);
    assert_consistent(&lab.store, unit.contents().as_ref(), id);

    let out = lab.flash(&unit, &reflash()).expect("a clean re-flash");
    assert_eq!(out.device.generation, pending + 1);
    assert_consistent(&lab.store, unit.contents().as_ref(), id);
    unit.stop();
}

macro_rules! against {
    ($($unit:ident => $kind:expr),* $(,)?) => {$(
        mod $unit {
            use super::*;

            #[test]
            fn provision_reflash_and_refuse_bad_digests() {
                super::provision_reflash_and_refuse_bad_digests($kind)
            }

            #[test]
            fn corrupted_frames_are_rejected() {
                super::corrupted_frames_are_rejected($kind)
            }

            #[test]
            fn interrupted_commit_keeps_the_old_credentials() {
                super::interrupted_commit_keeps_the_old_credentials($kind)
            }
        }
    )*};
}

against! {
    rust_sim => Kind::RustSim,
    c_host => Kind::HostC,
    avr_qemu => Kind::Avr,
}

/// The example firmware fits the ATmega328P with room to spare, and the library keeps to the
/// stack budget its header states (measured by stack painting during a provisioning).
#[test]
fn avr_qemu_firmware_fits_the_atmega328p() {
    let build = avr_build();
    let out = Command::new("avr-size")
        .args(["--format=avr", "--mcu=atmega328p"])
        .arg(&build.elf)
        .output()
        .expect("avr-size");
    let report = String::from_utf8_lossy(&out.stdout);
    eprintln!("{report}");
    let used = |what: &str| -> u32 {
        report
            .lines()
            .find(|l| l.starts_with(what))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {what} in avr-size output"))
    };
    let (flash, ram) = (used("Program:"), used("Data:"));
    assert!(
        flash <= 32 * 1024 - 512,
        "{flash} bytes of flash (bootloader needs 512)"
    );

    let mut lab = Lab::new(Kind::Avr);
    let batch = lab.batch(1);
    let unit = lab.start("u1", Fault::None);
    lab.flash(&unit, &provision(batch)).expect("provisioning");
    lab.flash(&unit, &reflash()).expect("re-flash");
    // The firmware reports its stack after each commit: "... stack peak N B (library M B),
    // free F B".
    let deadline = Instant::now() + Duration::from_secs(5);
    let line = loop {
        let log = unit.uart_log().unwrap_or_default();
        if let Some(l) = log
            .lines()
            .rfind(|l| l.contains("after commit: stack peak"))
        {
            if log.matches("after commit:").count() >= 2 {
                break l.to_owned();
            }
        }
        assert!(Instant::now() < deadline, "no stack report:\n{log}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let numbers: Vec<u32> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    let [peak, library, free] = numbers[numbers.len() - 3..] else {
        panic!("unexpected report {line:?}")
    };
    eprintln!(
        "ATmega328P: flash {flash} B, static RAM {ram} B, stack peak {peak} B (library {library} \
         B), never-touched RAM {free} B"
    );
    assert!(
        library <= stated_stack_budget(),
        "the library used {library} B of stack; dh_device.h promises {}",
        stated_stack_budget()
    );
    assert!(
        ram + peak <= 2048 && free >= 64,
        "RAM: {ram} static + {peak} stack, {free} free"
    );
    unit.stop();
}

// ---- Byte for byte: the C module against the Rust device model ------------------------------

const DIFF_HWID: &str = "A1B2C3D4E5F60718";
const DIFF_FW: &str = "fw-2.4.1";

/// SplitMix64: reproducible streams from a seed, no extra crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Text of up to `max` bytes from an alphabet that exercises escaping and UTF-8.
fn text(rng: &mut Rng, min: usize, max: usize, pieces: &[&str]) -> String {
    let target = min + rng.below(max - min + 1);
    let mut s = String::new();
    while s.len() < target {
        let p = rng.pick(pieces);
        if s.len() + p.len() > max {
            break;
        }
        s.push_str(p);
    }
    while s.len() < min {
        s.push('a');
    }
    s
}

const TEXT: &[&str] = &[
    "a", "Z", "0", "-", "_", ".", "/", " ", "%", "@", "*", "~", "é", "€", "😀", "\u{7f}", "ab",
    "\u{1}",
];
const IDENT: &[&str] = &["a", "B", "7", ".", "_", ":", "-"];
const HOST: &[&str] = &["a", "z", "9", ".", "-", "%", "@", "*", "~", "!"];

fn random_config(rng: &mut Rng) -> DeviceConfig {
    DeviceConfig {
        device_id: text(rng, 1, 128, IDENT),
        mqtt_username: text(rng, 0, 128, TEXT),
        mqtt_password: zeroize_string(&text(rng, 0, 128, TEXT)),
        api_key: zeroize_string(&text(rng, 0, 128, TEXT)),
        broker_host: text(rng, 1, 253, HOST),
        broker_port: u16::try_from(1 + rng.below(65535)).unwrap_or(1),
        broker_tls: rng.chance(50),
        topic_data: text(rng, 1, 200, TEXT),
        topic_status: text(rng, 1, 200, TEXT),
        topic_cmd: text(rng, 1, 200, TEXT),
        generation: if rng.chance(20) {
            u32::MAX
        } else {
            rng.next() as u32 % 1000
        },
    }
}

/// Frames of one byte stream: whole write sessions (some in odd key order, with chunks sent
/// twice or over the 128-byte chunk limit, wrong digests or hardware ids), READs, HELLOs,
/// malformed and unknown requests, seq 00, retransmissions, corrupted and cut frames, noise.
/// A well-formed BAUD (spec §10.1) at a rate the unit may or may not run, never with seq 00
/// (see the note in `c_host_answers_byte_for_byte_like_the_rust_device_model`).
/// A PROVE request (spec §10.3): a good nonce (lower or upper case) or a malformed one, at any
/// seq: a seq-00 refusal is kept out of the reply cache on both sides (§10.4).
fn prove_request(rng: &mut Rng, seq: u8) -> Vec<u8> {
    let nonce: [u8; 16] = std::array::from_fn(|_| rng.below(256) as u8);
    let lower: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
    match rng.below(6) {
        0 => Frame::encode(seq, &["PROVE", &lower.to_ascii_uppercase()]),
        1 => Frame::encode(seq, &["PROVE", &lower[..30]]),
        2 => Frame::encode(seq, &["PROVE", &format!("{}zz", &lower[..30])]),
        3 => Frame::encode(seq, &["PROVE"]),
        _ => Request::Prove { nonce }.encode(seq),
    }
}

fn baud_request(rng: &mut Rng, seq: u8) -> Vec<u8> {
    let rate = *rng.pick(&[
        921_600u32,
        460_800,
        230_400,
        115_200,
        1_000_000,
        57_600,
        0,
        4_294_967_295,
    ]);
    Request::Baud { rate }.encode(seq.max(1))
}

/// `fast`: the unit runs the faster wire, so malformed BAUD requests are sent too (a 1.0 unit
/// answers any BAUD as an unknown word, which the Rust model does not copy for malformed ones).
/// `frame_limit`: the unit's FRAME<n> (spec §10.2), which sizes the sessions' STAGE chunks as
/// the station does; some STAGEs are sent one chunk byte over it all the same.
fn random_stream(rng: &mut Rng, fast: bool, frame_limit: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut seq: u8 = 1;
    let mut next_seq = |rng: &mut Rng| {
        if rng.chance(1) {
            0
        } else {
            seq = if seq == 255 { 1 } else { seq + 1 };
            seq
        }
    };
    let mut frames: Vec<Vec<u8>> = Vec::new();
    for _ in 0..(2 + rng.below(5)) {
        match rng.below(11) {
            0..=4 => {
                let cfg = random_config(rng);
                frames.push(Request::Begin.encode(next_seq(rng)));
                let mut keys = Key::ALL.to_vec();
                if rng.chance(30) {
                    for i in (1..keys.len()).rev() {
                        keys.swap(i, rng.below(i + 1));
                    }
                }
                for key in keys {
                    if rng.chance(2) {
                        continue; // a key never staged
                    }
                    let value = cfg.value(key);
                    let mut offset = 0;
                    for chunk in stage_chunks(key, &value, frame_limit) {
                        let stage = Request::Stage {
                            key,
                            offset,
                            chunk: Zeroizing::new(chunk.to_vec()),
                        };
                        frames.push(stage.encode(next_seq(rng)));
                        if rng.chance(4) {
                            // BAUD inside a session: the session and the cache stay.
                            let seq = next_seq(rng);
                            frames.push(baud_request(rng, seq));
                        }
                        if rng.chance(4) {
                            // PROVE inside a session: the session and the cache stay.
                            let seq = next_seq(rng);
                            frames.push(prove_request(rng, seq));
                        }
                        if rng.chance(5) {
                            let again = frames.last().cloned().unwrap_or_default();
                            frames.push(again); // retransmission
                        }
                        if frame_limit < spec::MAX_FRAME_LEN && rng.chance(3) {
                            // A frame one byte over FRAME<n>: refused, the session goes on.
                            let off = offset.to_string();
                            let room = frame_limit + 1 - stage_frame_overhead(key, offset);
                            let word = "a".repeat(room);
                            frames.push(Frame::encode(
                                next_seq(rng),
                                &["STAGE", key.name(), &off, &word],
                            ));
                        }
                        if rng.chance(3) {
                            // A chunk one byte over the limit: refused, the session goes on.
                            let word = "%41".repeat(spec::MAX_CHUNK_ENCODED / 3 + 1);
                            let off = (offset + chunk.len()).to_string();
                            frames.push(Frame::encode(
                                next_seq(rng),
                                &["STAGE", key.name(), &off, &word],
                            ));
                        }
                        offset += chunk.len();
                    }
                }
                let mut digest = config_digest(&cfg);
                if rng.chance(10) {
                    digest[rng.below(32)] ^= 1;
                }
                let hwid = match rng.below(10) {
                    0 => "0102".to_owned(),
                    1 => DIFF_HWID.to_ascii_lowercase(),
                    _ => DIFF_HWID.to_owned(),
                };
                let commit = Request::Commit {
                    digest,
                    hardware_id: hwid,
                }
                .encode(next_seq(rng));
                frames.push(commit.clone());
                if rng.chance(20) {
                    frames.push(commit); // a lost OK COMMIT, sent again
                }
            }
            5 => {
                let key = *rng.pick(&Key::ALL);
                let offset = *rng.pick(&[0usize, 1, 5, 100, 128, 200, 253, 999]);
                frames.push(Request::Read { key, offset }.encode(next_seq(rng)));
            }
            6 => {
                let version = *rng.pick(&[0u16, 1, 2, 65535]);
                frames.push(Request::Hello { version }.encode(next_seq(rng)));
            }
            7 => {
                if rng.chance(2) {
                    frames.push(Request::Abort.encode(next_seq(rng)));
                } else {
                    let seq = next_seq(rng);
                    frames.push(prove_request(rng, seq));
                }
            }
            8 => {
                let at_limit = "a".repeat(spec::MAX_CHUNK_ENCODED);
                let over = "a".repeat(spec::MAX_CHUNK_ENCODED + 1);
                let words: &[&[&str]] = &[
                    &["FLY"],
                    &["-"],
                    &["%41*"],
                    &["HELLO", "65536"],
                    &["HELLO", "01"],
                    &["HELLO"],
                    &["BEGIN", "x"],
                    &["STAGE", "colour", "0", "x"],
                    &["STAGE", "-", "0", "x"],
                    &["STAGE", "device_id", "1000", "x"],
                    &["STAGE", "device_id", "0", "%4"],
                    &["STAGE", "device_id", "0", "%zz"],
                    &["STAGE", "device_id", "0", "a%2db%2D"],
                    &["STAGE", "device_id", "0"],
                    &["STAGE", "topic_data", "0", &at_limit],
                    &["STAGE", "topic_data", "0", &over],
                    &["STAGE", "colour", "0", &over],
                    &["READ", "api_key", "0"],
                    &["READ", "nope", "0"],
                    &["READ", "device_id", "x"],
                    &["COMMIT", "00", "A1B2"],
                    &["COMMIT", "zz", "A1B2"],
                    &["OK", "HELLO"],
                ];
                let w = rng.pick(words);
                frames.push(Frame::encode(next_seq(rng), w));
            }
            9 => {
                let seq = next_seq(rng);
                if fast && rng.chance(40) {
                    let words: &[&[&str]] = &[
                        &["BAUD"],
                        &["BAUD", "0921600"],
                        &["BAUD", "4294967296"],
                        &["BAUD", "921600", "1"],
                        &["BAUD", "fast"],
                        &["BAUD", "-"],
                    ];
                    let w = rng.pick(words);
                    frames.push(Frame::encode(seq, w));
                } else {
                    frames.push(baud_request(rng, seq));
                }
            }
            _ => {
                let token = escape_value(text(rng, 1, 60, TEXT).as_bytes());
                frames.push(Frame::encode(next_seq(rng), &[&token, "x"]));
            }
        }
    }
    for mut f in frames {
        match rng.below(100) {
            0 => {
                let i = rng.below(f.len());
                f[i] ^= 1 << rng.below(8); // corrupted on the wire
            }
            1 => {
                f.pop(); // lost '\n'
            }
            2 => {
                let n = f.len();
                f.remove(n - 2); // "\n" alone
            }
            3 => {
                let cut = rng.below(f.len());
                f.truncate(cut);
            }
            _ => {}
        }
        if rng.chance(5) {
            out.extend_from_slice(b"boot\x00\xff log @ *1234 ");
        }
        out.extend(f);
    }
    out
}

#[test]
fn c_host_answers_byte_for_byte_like_the_rust_device_model() {
    let bin = host_binary();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = Rng(0x00DE_71CE);
    let cases = 300;
    let mut commits = 0;
    // BAUD (spec §10.1) is in the streams: three units in four run the faster wire with the
    // station's rates on both sides, the fourth is a protocol 1.0 unit on both sides. Never at
    // seq 00: a 1.0 unit answers BAUD as an unknown word before it looks at the seq, which the
    // model does not copy.
    let rates: Vec<String> = spec::FAST_BAUD_RATES.iter().map(u32::to_string).collect();
    let rates = rates.join(",");
    let mut fast_cases = 0;
    // Version 1.1's write gate (spec §10.3): one unit in three has it, its jumper off (LOCKED
    // once a config is committed) or on (writes pass, stale generations do not); one in five is
    // built for 64-byte frames (§10.2: dh-host-frame64 and a model with the same limit).
    let frame64_bin = host_binary_frame64();
    let (mut gated_cases, mut frame64_cases) = (0, 0);
    // How often the new refusals came up, so the streams are known to reach them.
    let (mut locked, mut stale) = (0, 0);
    for case in 0..cases {
        let fast = case % 4 != 3;
        let gate = match case % 6 {
            1 => Some(false),
            4 => Some(true),
            _ => None,
        };
        let frame_limit = if case % 5 == 2 {
            spec::MIN_FRAME_LIMIT
        } else {
            spec::MAX_FRAME_LEN
        };
        let stream = random_stream(&mut rng, fast, frame_limit);
        let model =
            DeviceModel::new(MemoryStorage::default(), DIFF_HWID, DIFF_FW).expect("device model");
        let model = if fast {
            model.with_baud_rates(&spec::FAST_BAUD_RATES)
        } else {
            model.with_baud_rates(&[])
        };
        let mut model = model
            .with_write_gate(gate.is_some())
            .with_write_allowed(gate == Some(true))
            .with_frame_limit(frame_limit);
        fast_cases += usize::from(fast);
        gated_cases += usize::from(gate.is_some());
        frame64_cases += usize::from(frame_limit < spec::MAX_FRAME_LEN);
        let expected = model.feed(&stream);
        let text = String::from_utf8_lossy(&expected);
        locked += text.matches(" LOCKED *").count();
        stale += text.matches(" STALE_GENERATION *").count();
        let flash = dir.path().join(format!("case{case}.blob"));
        let mut cmd = Command::new(if frame_limit < spec::MAX_FRAME_LEN {
            &frame64_bin
        } else {
            &bin
        });
        if fast {
            cmd.args(["--baud-rates", &rates]);
        }
        match gate {
            Some(true) => cmd.args(["--gate", "--write-allowed"]),
            Some(false) => cmd.args(["--gate"]),
            None => &mut cmd,
        };
        // PROVE (spec §10.3) is on both sides: dh-host and the model list it in HELLO, and the
        // streams carry good, upper-case and malformed nonces, inside and outside sessions.
        let mut child = cmd
            .args([
                "--stdio",
                "--hardware-id",
                DIFF_HWID,
                "--firmware-version",
                DIFF_FW,
            ])
            .arg("--flash")
            .arg(&flash)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start dh-host --stdio");
        let mut stdin = child.stdin.take().expect("stdin");
        let writer = std::thread::spawn(move || stdin.write_all(&stream).map(|()| stream));
        let mut got = Vec::new();
        child
            .stdout
            .take()
            .expect("stdout")
            .read_to_end(&mut got)
            .expect("read replies");
        let stream = writer.join().expect("writer").expect("write stream");
        assert!(child.wait().expect("wait").success(), "dh-host failed");
        if got != expected {
            let (g, e) = (
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&expected),
            );
            let first = g
                .lines()
                .zip(e.lines())
                .find(|(a, b)| a != b)
                .map(|(a, b)| format!("C:    {a}\nRust: {b}"))
                .unwrap_or_else(|| "one output is a prefix of the other".into());
            panic!(
                "case {case}: the C module answered differently\n{first}\ninput:\n{}",
                String::from_utf8_lossy(&stream)
            );
        }
        let rust_blob = model.storage().blob.clone();
        assert_eq!(
            fs::read(&flash).ok(),
            rust_blob,
            "case {case}: stored blobs differ"
        );
        commits += usize::from(rust_blob.is_some());
    }
    eprintln!(
        "{cases} streams ({fast_cases} with BAUD, {gated_cases} gated, {frame64_cases} with \
         FRAME64) answered identically; {commits} ended with a committed config; {locked} \
         LOCKED and {stale} STALE_GENERATION refusals"
    );
    assert!(
        locked > 0 && stale > 0,
        "the gate's refusals never came up ({locked}, {stale})"
    );
    assert!(
        commits > cases / 4,
        "too few streams reached a commit ({commits})"
    );
}
