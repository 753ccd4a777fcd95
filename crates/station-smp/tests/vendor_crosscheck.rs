//! The simulator checked against the real MCUmgr tools (PyPI `smpclient` and `smpmgr`, pinned
//! in tools/vendor/requirements.txt): they write, read back, save and reset it as they would
//! a Zephyr board, the simulator ends up holding what they wrote, and the station's own
//! client then reads the same values. This is what makes the simulator worth testing against.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use station_smp::sim::{SimHandle, SimOptions, Simulator};
use station_smp::{
    Client, IdentityKeys, MgmtErr, Provisioner, SerialTransport, SettingsErr, SmpError,
    DEFAULT_BAUD,
};

const SECRET_PREFIX: &str = "dh/secret/";
const SECRET_KEY: &str = "dh/secret/mqtt_pass";
const PASSWORD: &str = "pw-crosscheck-never-shown-91c2";

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The vendor venv's bin directory: tools/vendor/setup-venv.sh builds or reuses it and prints
/// it on its last stdout line.
fn vendor_bin() -> PathBuf {
    let out = Command::new("bash")
        .arg(repo_root().join("tools/vendor/setup-venv.sh"))
        .stderr(Stdio::inherit())
        .output()
        .expect("run tools/vendor/setup-venv.sh");
    assert!(out.status.success(), "tools/vendor/setup-venv.sh failed");
    let stdout = String::from_utf8(out.stdout).expect("utf8");
    PathBuf::from(stdout.lines().last().expect("bin dir").trim())
}

fn start() -> SimHandle {
    Simulator::start(SimOptions {
        secret_prefixes: vec![SECRET_PREFIX.to_owned()],
        boot_noise: true,
        log_noise: true,
        ..SimOptions::default()
    })
    .expect("start simulator")
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .expect("run vendor tool");
    assert!(out.status.success(), "vendor tool failed: {:?}", out.status);
    out
}

fn steps(stdout: &str) -> Vec<serde_like::Step> {
    stdout.lines().map(serde_like::Step::parse).collect()
}

#[test]
fn real_smpclient_writes_reads_saves_and_resets_the_simulator() {
    let bin = vendor_bin();
    let sim = start();
    let out = run(Command::new(bin.join("python"))
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/smpclient_check.py"))
        .args([
            sim.port_path(),
            "dh/host",
            "mqtt.example",
            SECRET_KEY,
            PASSWORD,
        ]));
    let stdout = String::from_utf8(out.stdout).expect("utf8");
    assert!(
        !stdout.contains(PASSWORD),
        "the secret never reaches output"
    );
    let got = steps(&stdout);
    let ok = |name: &str| got.iter().any(|s| s.step == name && s.ok == Some(true));
    for step in ["write", "read", "write_secret", "save", "reset"] {
        assert!(ok(step), "smpclient step {step} failed: {stdout}");
    }
    assert!(stdout.contains(r#""value": "mqtt.example""#), "{stdout}");
    let denied = got
        .iter()
        .find(|s| s.step == "read_secret")
        .expect("read_secret");
    assert_eq!(denied.rc, Some(MgmtErr::AccessDenied.code()), "{stdout}");

    let held = sim.settings();
    assert_eq!(held.resets, 1, "smpclient's reset reached the device");
    assert_eq!(
        held.saved.get("dh/host").map(Vec::as_slice),
        Some(&b"mqtt.example"[..])
    );
    assert_eq!(
        held.saved.get(SECRET_KEY).map(Vec::as_slice),
        Some(PASSWORD.as_bytes())
    );
    assert_eq!(
        held.live, held.saved,
        "after the reset RAM is what was saved"
    );

    // The station's client on the same port reads what the vendor tool wrote.
    let mut c = Client::new(SerialTransport::open(sim.port_path(), DEFAULT_BAUD).expect("open"));
    assert_eq!(c.settings_read("dh/host").expect("read"), b"mqtt.example");
    let err = c.settings_read(SECRET_KEY).expect_err("write-only");
    assert!(
        matches!(
            err,
            SmpError::Rejected {
                rc: MgmtErr::AccessDenied,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn real_smpmgr_cli_echoes_and_resets_the_simulator() {
    let bin = vendor_bin();
    let sim = start();
    let smpmgr = bin.join("smpmgr");
    let echo = run(Command::new(&smpmgr).args(["--port", sim.port_path(), "os", "echo", "hello"]));
    let echo = String::from_utf8_lossy(&echo.stdout);
    assert!(echo.contains("r='hello'"), "{echo}");
    run(Command::new(&smpmgr).args(["--port", sim.port_path(), "os", "reset"]));
    assert_eq!(sim.settings().resets, 1);
}

/// What the MCUmgr driver relies on, seen by the real client: a read-only hardware-id key
/// (readable, writes refused with the settings group's WRITE_NOT_SUPPORTED), reads cut to the
/// firmware's value limit with "max_size" in the answer, and a save that answers success but
/// does not reach storage (Zephyr ignores settings_save()'s result) showing only after a reset.
/// The station's driver then identifies the unit the same way.
#[test]
fn real_smpclient_sees_the_read_only_key_the_value_limit_and_a_lost_save() {
    let bin = vendor_bin();
    let mut saved = std::collections::BTreeMap::new();
    saved.insert("dh/generation".to_owned(), b"3".to_vec());
    saved.insert("dh/topic_data".to_owned(), vec![b't'; 40]);
    let mut read_only = std::collections::BTreeMap::new();
    read_only.insert("dh/hwid".to_owned(), b"E4B2C0FFEE0042".to_vec());
    let sim = Simulator::start(SimOptions {
        saved,
        read_only,
        value_len: Some(32),
        save_lost: true,
        boot_noise: true,
        ..SimOptions::default()
    })
    .expect("start simulator");
    let out = run(Command::new(bin.join("python"))
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/smpclient_driver_check.py"))
        .args([sim.port_path(), "dh/hwid", "dh/topic_data", "dh/generation"]));
    let stdout = String::from_utf8(out.stdout).expect("utf8");
    let line = |step: &str| {
        stdout
            .lines()
            .find(|l| l.contains(&format!(r#""step": "{step}""#)))
            .unwrap_or_else(|| panic!("no {step} in {stdout}"))
            .to_owned()
    };
    assert!(
        line("read_hwid").contains(r#""value": "E4B2C0FFEE0042""#),
        "{stdout}"
    );
    let refused = serde_like::Step::parse(&line("write_hwid"));
    assert_eq!(refused.ok, Some(false), "{stdout}");
    assert_eq!(
        refused.rc,
        Some(SettingsErr::WriteNotSupported.code()),
        "{stdout}"
    );
    assert!(line("write_hwid").contains(r#""group": 3"#), "{stdout}");
    let long = line("read_long");
    assert!(
        long.contains(r#""len": 32"#) && long.contains(r#""max_size": 32"#),
        "{long}"
    );
    for step in ["write_generation", "save", "reset"] {
        assert_eq!(
            serde_like::Step::parse(&line(step)).ok,
            Some(true),
            "{stdout}"
        );
    }
    assert!(
        line("read_generation").contains(r#""value": "3""#),
        "lost save: {stdout}"
    );
    assert_eq!(sim.settings().resets, 1);

    let mut p = Provisioner::open_serial(sim.port_path(), DEFAULT_BAUD).expect("open");
    let unit = p
        .identify(&IdentityKeys {
            hardware_id: "dh/hwid".into(),
            device_id: "dh/device_id".into(),
            generation: "dh/generation".into(),
        })
        .expect("identify");
    assert_eq!(
        (unit.hardware_id.as_str(), unit.generation),
        ("E4B2C0FFEE0042", Some(3))
    );
}

/// The one-line JSON objects `smpclient_check.py` prints, read without a JSON dependency.
mod serde_like {
    #[derive(Debug)]
    pub struct Step {
        pub step: String,
        pub ok: Option<bool>,
        pub rc: Option<u32>,
    }

    fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
        let at = line.find(&format!("\"{name}\": "))? + name.len() + 4;
        let rest = &line[at..];
        let end = rest.find([',', '}']).unwrap_or(rest.len());
        Some(rest[..end].trim().trim_matches('"'))
    }

    impl Step {
        pub fn parse(line: &str) -> Self {
            Step {
                step: field(line, "step").unwrap_or_default().to_owned(),
                ok: field(line, "ok").map(|v| v == "true"),
                rc: field(line, "rc").and_then(|v| v.parse().ok()),
            }
        }
    }
}
