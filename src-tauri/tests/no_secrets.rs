//! Nothing the UI receives holds a plaintext password or api key: real flashes (provision,
//! then rotate and re-flash, then identify) of a simulated unit on a pseudo-terminal, through the app's
//! flasher, with every event serialised exactly as it is sent to the webview and searched for
//! the credentials the unit actually received.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use station_app::dto::{Device, DeviceEvent, FlashRequest, Shift};
use station_app::events::{FlashFinished, FlashProgress, FlashResult};
use station_app::flashing::{Flasher, Sink};
use station_core::{NewDeviceType, Store};
use station_protocol::Key;
use station_service::training::Mode;

#[derive(Default)]
struct Recorder {
    payloads: Mutex<Vec<String>>,
    finished: Mutex<Vec<FlashFinished>>,
}

impl Sink for Recorder {
    fn progress(&self, p: FlashProgress) {
        let json = serde_json::to_string(&p).expect("json");
        self.payloads.lock().expect("lock").push(json);
    }
    fn finished(&self, f: FlashFinished) {
        let json = serde_json::to_string(&f).expect("json");
        self.payloads.lock().expect("lock").push(json);
        self.finished.lock().expect("lock").push(f);
    }
    fn shift(&self, s: Shift) {
        let json = serde_json::to_string(&s).expect("json");
        self.payloads.lock().expect("lock").push(json);
    }
}

impl Recorder {
    fn wait_for(&self, n: usize) -> FlashFinished {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(f) = self.finished.lock().expect("lock").get(n - 1) {
                return f.clone();
            }
            assert!(Instant::now() < deadline, "flash {n} did not finish");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The (password, api key) unit `hardware_id` holds now, in the bench's memory.
fn secrets_of_unit(flasher: &Flasher, hardware_id: &str) -> Vec<String> {
    let cfg = flasher
        .service()
        .bench()
        .expect("training has a bench")
        .unit_contents(hardware_id)
        .expect("the unit holds a config");
    vec![
        cfg.get_str(Key::MqttPassword).to_owned(),
        cfg.get_str(Key::ApiKey).to_owned(),
    ]
}

#[test]
fn no_payload_sent_to_the_ui_contains_a_password_or_api_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("station.sqlite3");
    let mut store = Store::open(&db).expect("open");
    store
        .set_setting("hash_algorithm", "argon2:m=64,t=1,p=1")
        .expect("fast hash");
    store.set_setting("station_id", "line-1").expect("station");
    store
        .mark_training()
        .expect("simulated units flash only into a training database");
    store
        .add_type(NewDeviceType {
            name: "WeatherStation".into(),
            app_label: "myapp".into(),
            ..Default::default()
        })
        .expect("type");
    let flasher = Flasher::new(db.clone(), Mode::Training);
    let sink = Arc::new(Recorder::default());

    flasher
        .start(
            "sim:1",
            FlashRequest::NewDevice {
                device_type: "WeatherStation".into(),
                prefix: "t-".into(),
            },
            sink.clone(),
        )
        .expect("start");
    let first = sink.wait_for(1);
    let FlashResult::Passed { device, .. } = &first.result else {
        panic!("the first flash failed: {first:?}");
    };
    assert_eq!(device.device_id, "t-weatherstation-001");
    assert_eq!(device.generation, 1);

    flasher
        .start(
            "sim:1",
            FlashRequest::Reflash {
                device_id: device.device_id.clone(),
                confirm_unbound: false,
            },
            sink.clone(),
        )
        .expect("start reflash");
    let second = sink.wait_for(2);
    let FlashResult::Passed {
        device, rotated, ..
    } = &second.result
    else {
        panic!("the re-flash failed: {second:?}");
    };
    assert!(rotated);
    assert_eq!(device.generation, 2);

    // The technician identifies the unit still on sim:1: it holds that device, generation 2;
    // sim:2 has had no unit yet, so a blank one is read.
    let unit = flasher.identify("sim:1").expect("identify");
    assert_eq!(
        (unit.device_id.as_deref(), unit.generation, unit.known),
        (Some(device.device_id.as_str()), Some(2), true)
    );
    let blank = flasher.identify(" sim:2 ").expect("identify a blank unit");
    assert_eq!(
        (blank.port.as_str(), blank.device_id, blank.known),
        ("sim:2", None, false)
    );

    // What the screens read about the device afterwards goes through the same DTOs.
    let store = Store::open(&db).expect("reopen");
    let d: Device = store.find_device(&device.device_id).expect("device").into();
    let history: Vec<DeviceEvent> = store.device_history(&device.device_id).expect("history");
    let mut payloads = sink.payloads.lock().expect("lock").clone();
    payloads.push(serde_json::to_string(&d).expect("json"));
    payloads.push(serde_json::to_string(&history).expect("json"));
    payloads.push(serde_json::to_string(&unit).expect("json"));

    let FlashResult::Passed { hardware_id, .. } = &second.result else {
        unreachable!("checked above");
    };
    let secrets = secrets_of_unit(&flasher, hardware_id);
    assert_eq!(
        secrets.len(),
        2,
        "one unit, holding one password and one api key"
    );
    for secret in &secrets {
        assert!(secret.len() >= 40, "a real credential: {}", secret.len());
        for p in &payloads {
            assert!(
                !p.contains(secret.as_str()),
                "a UI payload holds a credential: {p}"
            );
        }
    }
    assert!(
        payloads.len() > 10,
        "progress, results and shift were all sent"
    );
}

#[test]
fn a_second_flash_on_a_busy_port_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("station.sqlite3");
    let mut store = Store::open(&db).expect("open");
    store
        .set_setting("hash_algorithm", "argon2:m=64,t=1,p=1")
        .expect("fast hash");
    store
        .add_type(NewDeviceType {
            name: "WeatherStation".into(),
            app_label: "myapp".into(),
            ..Default::default()
        })
        .expect("type");
    store.mark_training().expect("training database");
    let flasher = Flasher::new(db, Mode::Training);
    let sink = Arc::new(Recorder::default());
    let req = FlashRequest::NewDevice {
        device_type: "WeatherStation".into(),
        prefix: String::new(),
    };
    flasher
        .start("sim:1", req.clone(), sink.clone())
        .expect("first");
    let err = flasher
        .start("sim:1", req.clone(), sink.clone())
        .expect_err("second click on the same port");
    assert_eq!(err.code, station_app::error::ErrorCode::Conflict);
    assert_eq!(flasher.busy_ports(), vec!["sim:1".to_string()]);
    // Another port is free to flash at the same time.
    flasher
        .start("sim:2", req, sink.clone())
        .expect("other port");
    sink.wait_for(2);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !flasher.busy_ports().is_empty() {
        assert!(Instant::now() < deadline, "ports were not freed");
        std::thread::sleep(Duration::from_millis(10));
    }
    flasher
        .start(
            "sim:1",
            FlashRequest::NewDevice {
                device_type: "WeatherStation".into(),
                prefix: String::new(),
            },
            sink.clone(),
        )
        .expect("free again after the job");
    sink.wait_for(3);
}
