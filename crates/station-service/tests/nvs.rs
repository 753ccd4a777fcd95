//! The ESP-IDF NVS driver through the flasher, over real pseudo-terminals against the ESP32 ROM
//! loader simulator (`station-espsim`, itself cross-checked with esptool): provisioning, a
//! re-flash, each error in the operator's words, faults, the pending generation, and the secret
//! scan.

use std::path::Path;

use station_core::credentials::verify_password;
use station_core::driver::{DriverKind, DriverSpec, VerifyMethod};
use station_core::Secret;
use station_core::{FailReason, FlashState, NewDeviceType, Store};
use station_espflash::nvs_read::{self, FlashRead, ReadValue};
use station_espsim::{EspSimHandle, EspSimOptions, EspSimulator, Flash};
use station_service::{FlashRequest, Flasher, JobReport, NoSink};

mod common;

const TYPE: &str = "EspSensor";
const NVS_OFFSET: u32 = 0x9000;
const NVS_SIZE: u32 = 0x6000;
const HWID: &str = "240AC4123456";
/// FLASH_DATA blocks (1 KiB) of the NVS partition's first page (4 KiB), which holds every key.
const FIRST_PAGE_BLOCKS: u32 = 4;

struct Bench {
    dir: tempfile::TempDir,
    flasher: Flasher,
}

impl Bench {
    fn new() -> Bench {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("station.sqlite3");
        common::station_database(&db);
        Store::open(&db)
            .expect("store")
            .add_type(NewDeviceType {
                name: TYPE.into(),
                app_label: "myapp".into(),
                driver: Some(DriverSpec {
                    kind: DriverKind::Nvs,
                    settings: r#"{"namespace":"mqtt","key.mqtt_password":"pass"}"#.into(),
                }),
                ..Default::default()
            })
            .expect("nvs type");
        let flasher = common::flasher(db, Some(TYPE));
        Bench { dir, flasher }
    }

    fn store(&self) -> Store {
        Store::open(self.flasher.db_path()).expect("store")
    }

    fn run(&self, unit: &EspSimHandle, request: &FlashRequest) -> JobReport {
        let mut reports = self
            .flasher
            .run_ports(&[unit.port_path().to_owned()], request, &NoSink)
            .expect("run");
        reports.pop().expect("one report")
    }
}

fn unit(opts: EspSimOptions, flash: Flash) -> EspSimHandle {
    EspSimulator::start(opts, flash).expect("espsim")
}

fn new_device() -> FlashRequest {
    FlashRequest::NewDevice {
        device_type: TYPE.into(),
        prefix: "esp-".into(),
        overwrite_foreign: false,
    }
}

struct SimRead<'a>(&'a Flash);

impl FlashRead for SimRead<'_> {
    type Error = ();
    fn read(&mut self, offset: u32, len: usize) -> Result<Vec<u8>, ()> {
        self.0
            .read(offset as usize, len)
            .map(<[u8]>::to_vec)
            .map_err(|_| ())
    }
}

/// What the unit's NVS holds under `keys` of namespace `mqtt`, read from the simulator's flash.
fn nvs(flash: &Flash, keys: &[&str]) -> Vec<(String, ReadValue)> {
    nvs_read::read_keys(&mut SimRead(flash), NVS_OFFSET, NVS_SIZE, "mqtt", keys).expect("read")
}

fn string(flash: &Flash, key: &str) -> Option<String> {
    nvs(flash, &[key]).into_iter().find_map(|(_, v)| match v {
        ReadValue::Str(s) => Some(s),
        ReadValue::Uint(_) => None,
    })
}

fn generation(flash: &Flash) -> Option<u64> {
    nvs(flash, &["dh_generation"])
        .into_iter()
        .find_map(|(_, v)| match v {
            ReadValue::Uint(n) => Some(n),
            ReadValue::Str(_) => None,
        })
}

fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    for entry in std::fs::read_dir(dir).expect("dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            hits.extend(files_containing(&path, needle));
        } else if let Ok(bytes) = std::fs::read(&path) {
            if bytes.windows(needle.len()).any(|w| w == needle) {
                hits.push(path.display().to_string());
            }
        }
    }
    hits
}

#[test]
fn provisions_a_new_device_into_the_nvs_partition_verified_by_flash_md5() {
    let bench = Bench::new();
    let sim = unit(EspSimOptions::default(), Flash::default());
    let report = bench.run(&sim, &new_device());
    let passed = report.result.expect("flash passes");
    let outcome = &passed.outcome;
    assert_eq!(outcome.driver, DriverKind::Nvs);
    assert_eq!(outcome.hardware_id, HWID);
    let verification = outcome.verification.as_ref().expect("verified");
    assert_eq!(verification.method, VerifyMethod::FlashMd5);
    assert!(verification.unverified.is_empty());
    let device = bench
        .store()
        .find_device(&outcome.device.device_id)
        .expect("device");
    assert_eq!(device.flash_state, FlashState::Flashed);
    assert_eq!(device.generation, 1);
    assert_eq!(device.hardware_id.as_deref(), Some(HWID));

    let flash = sim.flash();
    assert_eq!(
        string(&flash, "device_id").as_deref(),
        Some(device.device_id.as_str())
    );
    assert_eq!(generation(&flash), Some(1));
    // The type's key mapping: the password under "pass", not under its config name.
    let password = string(&flash, "pass").expect("the unit holds a password");
    assert!(string(&flash, "mqtt_password").is_none());
    assert!(password.len() >= 16);
    assert!(
        string(&flash, "api_key").is_some(),
        "the unit holds an api key"
    );

    // Secret scan: the password in no file of the data folder (database, WAL, logs), and the
    // image never written to one. (The api key waits in the outbox until the server's seal key
    // seals it, as for every driver: crates/station-core/tests/at_rest.rs.)
    drop(bench.store());
    assert_eq!(
        files_containing(bench.dir.path(), password.as_bytes()),
        Vec::<String>::new()
    );
    sim.shutdown().expect("sim");
}

#[test]
fn a_reflash_rotates_the_credentials_into_the_same_unit() {
    let bench = Bench::new();
    let sim = unit(EspSimOptions::default(), Flash::default());
    let first = bench.run(&sim, &new_device()).result.expect("provision");
    let device_id = first.outcome.device.device_id.clone();
    let old_password = string(&sim.flash(), "pass").expect("password");
    sim.reset_into_loader();
    let second = bench
        .run(
            &sim,
            &FlashRequest::Reflash {
                device_id: Some(device_id.clone()),
                confirm_unbound: false,
            },
        )
        .result
        .expect("re-flash");
    assert!(second.outcome.rotated);
    assert_eq!(
        bench.store().find_device(&device_id).expect("d").generation,
        2
    );
    let flash = sim.flash();
    assert_eq!(generation(&flash), Some(2));
    assert_ne!(string(&flash, "pass"), Some(old_password));
    sim.shutdown().expect("sim");
}

#[test]
fn a_wrong_chip_is_refused_in_words_and_nothing_is_recorded() {
    let bench = Bench::new();
    let sim = unit(
        EspSimOptions {
            chip_magic: 0x0000_07C6,
            ..EspSimOptions::default()
        },
        Flash::default(),
    );
    let failure = bench.run(&sim, &new_device()).result.expect_err("refused");
    assert_eq!(failure.error.reason(), Some(FailReason::WrongChip));
    assert!(
        failure.error.to_string().contains("not an ESP32"),
        "{}",
        failure.error
    );
    assert!(bench
        .store()
        .list_devices(&Default::default())
        .expect("list")
        .is_empty());
    assert_eq!(generation(&sim.flash()), None);
    sim.shutdown().expect("sim");
}

#[test]
fn a_unit_without_an_nvs_partition_is_refused_in_words() {
    let bench = Bench::new();
    let mut flash = Flash::default();
    // Erase the partition table: no partition can be found.
    flash.erase(0x8000, 0x1000).expect("erase");
    let sim = unit(EspSimOptions::default(), flash);
    let failure = bench.run(&sim, &new_device()).result.expect_err("refused");
    assert_eq!(failure.error.reason(), Some(FailReason::NoNvsPartition));
    sim.shutdown().expect("sim");
}

#[test]
fn no_loader_answer_is_said_in_operator_words() {
    let bench = Bench::new();
    let sim = unit(EspSimOptions::default(), Flash::default());
    // The unit runs its application: it ignores the loader's packets.
    let first = bench.run(&sim, &new_device());
    assert!(first.result.is_ok());
    let failure = bench
        .run(&sim, &new_device())
        .result
        .expect_err("no loader");
    assert_eq!(failure.error.reason(), Some(FailReason::NoLoaderAnswer));
    assert!(
        failure.error.to_string().contains("BOOT"),
        "{}",
        failure.error
    );
    sim.shutdown().expect("sim");
}

#[test]
fn an_unplug_mid_write_leaves_the_previous_generation_in_force() {
    let bench = Bench::new();
    let sim = unit(EspSimOptions::default(), Flash::default());
    let first = bench.run(&sim, &new_device()).result.expect("provision");
    let device_id = first.outcome.device.device_id.clone();
    let flash = sim.flash();
    sim.shutdown().expect("sim");
    let sim = unit(
        EspSimOptions {
            unplug_at_block: Some(3),
            ..EspSimOptions::default()
        },
        flash,
    );
    let failure = bench
        .run(
            &sim,
            &FlashRequest::Reflash {
                device_id: Some(device_id.clone()),
                confirm_unbound: false,
            },
        )
        .result
        .expect_err("unplugged");
    assert_eq!(failure.device_id.as_deref(), Some(device_id.as_str()));
    let device = bench.store().find_device(&device_id).expect("device");
    assert_eq!(
        device.generation, 1,
        "the previous generation stays in force"
    );
    let _ = sim.wait();
}

#[test]
fn power_loss_after_the_last_block_stays_pending_until_the_unit_is_read_again() {
    let bench = Bench::new();
    let blocks = NVS_SIZE / 0x400;
    let sim = unit(
        EspSimOptions {
            power_loss_after_block: Some(blocks),
            ..EspSimOptions::default()
        },
        Flash::default(),
    );
    let failure = bench
        .run(&sim, &new_device())
        .result
        .expect_err("power lost");
    assert_eq!(
        failure.error.reason(),
        Some(FailReason::CommitOutcomeUnknown)
    );
    let device_id = failure.device_id.clone().expect("a device was involved");
    let device = bench.store().find_device(&device_id).expect("device");
    assert_eq!(device.generation, 0, "nothing confirmed yet");
    let flash = sim.flash();
    let _ = sim.wait();
    // Power back: the unit holds the whole image; reading it settles the pending generation.
    let sim = unit(EspSimOptions::default(), flash);
    let recovered = bench
        .run(&sim, &FlashRequest::Recover)
        .result
        .expect("recover");
    assert_eq!(recovered.outcome.device.device_id, device_id);
    let device = bench.store().find_device(&device_id).expect("device");
    assert_eq!(device.generation, 1);
    assert_eq!(device.flash_state, FlashState::Flashed);
    sim.shutdown().expect("sim");
}

/// The unit's password (NVS key "pass") verifies against the hash the record holds in force,
/// and the unit holds the record's device id and generation.
fn assert_unit_holds_the_record(bench: &Bench, flash: &Flash, device_id: &str) {
    let device = bench.store().find_device(device_id).expect("device");
    assert_eq!(string(flash, "device_id").as_deref(), Some(device_id));
    assert_eq!(generation(flash), Some(u64::from(device.generation)));
    let password = Secret::new(string(flash, "pass").expect("the unit holds a password"));
    let hash = bench
        .store()
        .password_hash(device_id)
        .expect("read")
        .expect("a hash in force");
    assert!(
        verify_password(&password, &hash).expect("verify"),
        "the unit's password is not the one the record of {device_id} holds"
    );
}

/// Provision one device, then cut the re-flash at FLASH_DATA block `cut` (1-based: blocks
/// before it are written after FLASH_BEGIN erased the partition). Returns the bench, the
/// device and the unit's flash as the cut left it.
fn cut_reflash(cut: u32) -> (Bench, String, Flash) {
    let bench = Bench::new();
    let sim = unit(EspSimOptions::default(), Flash::default());
    let first = bench.run(&sim, &new_device()).result.expect("provision");
    let device_id = first.outcome.device.device_id.clone();
    let flash = sim.flash();
    sim.shutdown().expect("sim");
    let sim = unit(
        EspSimOptions {
            unplug_at_block: Some(cut),
            ..EspSimOptions::default()
        },
        flash,
    );
    let failure = bench
        .run(&sim, &reflash(&device_id))
        .result
        .expect_err("unplugged");
    assert_eq!(failure.device_id.as_deref(), Some(device_id.as_str()));
    let flash = sim.flash();
    let _ = sim.wait();
    assert_eq!(
        bench.store().find_device(&device_id).expect("d").generation,
        1,
        "cut at block {cut}: the previous generation stays in force"
    );
    (bench, device_id, flash)
}

fn reflash(device_id: &str) -> FlashRequest {
    FlashRequest::Reflash {
        device_id: Some(device_id.to_owned()),
        confirm_unbound: false,
    }
}

/// FLASH_DATA block 1 cut: FLASH_BEGIN erased the NVS partition, nothing was written again.
const CUT_AFTER_ERASE: u32 = 1;

fn promotions(bench: &Bench, device_id: &str) -> usize {
    bench
        .store()
        .device_history(device_id)
        .expect("history")
        .iter()
        .filter(|e| e.kind == "flashed" || e.kind == "rotated")
        .count()
}

fn device_count(bench: &Bench) -> usize {
    bench
        .store()
        .list_devices(&Default::default())
        .expect("list")
        .len()
}

#[test]
fn regression_a_unit_blanked_by_a_cut_reflash_gets_its_own_device_back_on_retry() {
    // FLASH_BEGIN erases the NVS partition first: a write cut short leaves the unit without
    // its settings while the record keeps generation 1. The retry used to be refused ("no
    // identity"); now the unit gets its own device back.
    let (bench, device_id, flash) = cut_reflash(CUT_AFTER_ERASE);
    assert_eq!(generation(&flash), None, "the cut left the unit blank");
    assert_eq!(promotions(&bench, &device_id), 1);
    let sim = unit(EspSimOptions::default(), flash);
    let retried = bench
        .run(&sim, &reflash(&device_id))
        .result
        .expect("the retry re-flashes the same device");
    let outcome = &retried.outcome;
    assert_eq!(outcome.device.device_id, device_id, "the same device id");
    assert!(outcome.rotated && outcome.restored);
    // One promotion, 1 -> 3: generation 2 went to the cut write and was dropped when the blank
    // unit was read; a generation number is never issued twice.
    let device = bench.store().find_device(&device_id).expect("device");
    assert_eq!(device.generation, 3);
    assert_eq!(device.flash_state, FlashState::Flashed);
    assert_eq!(device.pending_generation, None);
    assert_eq!(promotions(&bench, &device_id), 2, "provision + the retry");
    assert_eq!(device_count(&bench), 1, "no new device");
    assert_unit_holds_the_record(&bench, &sim.flash(), &device_id);
    sim.shutdown().expect("sim");
}

#[test]
fn a_reflash_cut_at_any_block_of_the_first_page_ends_consistent_after_one_retry() {
    // Blank (cut right after the erase) or whole (the first block holds every key, and the
    // generation is written last): whatever the cut left, the retry ends with the unit holding
    // the record's credentials, the same device and nothing pending.
    for cut in 1..=FIRST_PAGE_BLOCKS {
        let (bench, device_id, flash) = cut_reflash(cut);
        let sim = unit(EspSimOptions::default(), flash);
        let retried = bench
            .run(&sim, &reflash(&device_id))
            .result
            .unwrap_or_else(|f| panic!("cut at block {cut}: the retry failed: {}", f.error));
        assert_eq!(retried.outcome.device.device_id, device_id);
        let device = bench.store().find_device(&device_id).expect("device");
        assert_eq!(device.pending_generation, None, "cut at block {cut}");
        assert_eq!(device_count(&bench), 1, "cut at block {cut}: no new device");
        assert_unit_holds_the_record(&bench, &sim.flash(), &device_id);
        sim.shutdown().expect("sim");
    }
}

#[test]
fn regression_auto_flash_gives_a_blanked_unit_its_own_device_not_a_new_one() {
    let (bench, device_id, flash) = cut_reflash(CUT_AFTER_ERASE);
    let sim = unit(EspSimOptions::default(), flash);
    let passed = bench
        .run(&sim, &new_device())
        .result
        .expect("auto-flash passes");
    assert_eq!(passed.outcome.device.device_id, device_id);
    assert!(passed.outcome.restored);
    assert_eq!(device_count(&bench), 1, "no new device was minted");
    assert_unit_holds_the_record(&bench, &sim.flash(), &device_id);
    sim.shutdown().expect("sim");
}

#[test]
fn a_blank_unit_is_not_taken_for_another_device_it_was_not_flashed_with() {
    // Asking for device B on a blank unit that lost device A: refused, naming A; nothing is
    // issued for either device.
    let (bench, device_id, flash) = cut_reflash(CUT_AFTER_ERASE);
    let sim = unit(EspSimOptions::default(), flash);
    let failure = bench
        .run(&sim, &reflash("esp-espsensor-999"))
        .result
        .expect_err("refused");
    assert_eq!(failure.error.reason(), Some(FailReason::WrongUnit));
    assert!(
        failure.error.to_string().contains(&device_id),
        "{}",
        failure.error
    );
    let device = bench.store().find_device(&device_id).expect("device");
    assert_eq!((device.generation, device.pending_generation), (1, None));
    sim.shutdown().expect("sim");
}

// Faults (issue 12): noise, dropped bytes, loader error replies, a partition too small, another
// unit on the port. Each ends consistent: nothing recorded as flashed unless the unit holds it.

/// The simulator's default flash with the NVS partition's size in the table set to `size`
/// (the table's MD5 entry made again, so the table stays valid).
fn flash_with_nvs_size(size: u32) -> Flash {
    const TABLE: usize = 0x8000;
    const ENTRY: usize = 32;
    let mut flash = Flash::default();
    let table = flash.read(TABLE, 0xC00).expect("table").to_vec();
    let mut entries = Vec::new();
    for (i, e) in table.chunks(ENTRY).enumerate() {
        if e[..2] == [0xAA, 0x50] {
            entries.push(i);
        } else {
            break;
        }
    }
    let nvs = entries
        .iter()
        .copied()
        .find(|&i| &table[i * ENTRY + 12..i * ENTRY + 15] == b"nvs")
        .expect("an nvs entry");
    let mut table = table;
    table[nvs * ENTRY + 8..nvs * ENTRY + 12].copy_from_slice(&size.to_le_bytes());
    let end = entries.len() * ENTRY;
    let digest = md5_of(&table[..end]);
    table[end + 16..end + 32].copy_from_slice(&digest);
    flash.poke(TABLE, &table[..end + ENTRY]).expect("poke");
    flash
}

fn md5_of(bytes: &[u8]) -> [u8; 16] {
    use md5::Digest;
    md5::Md5::digest(bytes).into()
}

#[test]
fn noise_before_sync_is_skipped_and_the_flash_passes() {
    let bench = Bench::new();
    let sim = unit(
        EspSimOptions {
            noise_before_sync: true,
            ..EspSimOptions::default()
        },
        Flash::default(),
    );
    let passed = bench.run(&sim, &new_device()).result.expect("passes");
    assert_unit_holds_the_record(&bench, &sim.flash(), &passed.outcome.device.device_id);
    sim.shutdown().expect("sim");
}

#[test]
fn dropped_bytes_end_consistent_and_a_clean_retry_passes() {
    // Lost bytes make the ROM drop a packet and the station time out. Whatever the seed hits,
    // the record is never ahead of the unit, and one clean retry ends with both agreeing.
    for seed in [1_u64, 2, 3] {
        let bench = Bench::new();
        let sim = unit(
            EspSimOptions {
                drop_rate: 0.002,
                seed,
                ..EspSimOptions::default()
            },
            Flash::default(),
        );
        let first = bench.run(&sim, &new_device());
        let flash = sim.flash();
        let _ = sim.shutdown();
        let devices = bench.store().list_devices(&Default::default()).expect("l");
        for d in &devices {
            if d.generation > 0 {
                assert_unit_holds_the_record(&bench, &flash, &d.device_id);
            }
        }
        let sim = unit(EspSimOptions::default(), flash);
        let retry = match &first.result {
            Ok(p) => reflash(&p.outcome.device.device_id),
            Err(_) => new_device(),
        };
        let passed = bench
            .run(&sim, &retry)
            .result
            .unwrap_or_else(|f| panic!("seed {seed}: the clean retry failed: {}", f.error));
        let device_id = passed.outcome.device.device_id.clone();
        assert_unit_holds_the_record(&bench, &sim.flash(), &device_id);
        let d = bench.store().find_device(&device_id).expect("d");
        assert_eq!(d.pending_generation, None, "seed {seed}");
        sim.shutdown().expect("sim");
    }
}

#[test]
fn a_loader_error_before_the_write_is_refused_in_words_and_nothing_is_recorded() {
    let bench = Bench::new();
    let sim = unit(
        EspSimOptions {
            errors: vec!["FLASH_BEGIN:failed-to-act".parse().expect("rule")],
            ..EspSimOptions::default()
        },
        Flash::default(),
    );
    let failure = bench.run(&sim, &new_device()).result.expect_err("refused");
    assert_eq!(failure.error.reason(), Some(FailReason::LoaderRefused));
    let device_id = failure.device_id.expect("the device it was for");
    let d = bench.store().find_device(&device_id).expect("d");
    assert_eq!((d.generation, d.pending_generation), (0, None));
    assert_eq!(d.flash_state, FlashState::Failed);
    assert_eq!(generation(&sim.flash()), None);
    sim.shutdown().expect("sim");
}

#[test]
fn a_loader_error_mid_write_blanks_the_unit_and_the_retry_restores_its_device() {
    let bench = Bench::new();
    let sim = unit(EspSimOptions::default(), Flash::default());
    let first = bench.run(&sim, &new_device()).result.expect("provision");
    let device_id = first.outcome.device.device_id.clone();
    let flash = sim.flash();
    sim.shutdown().expect("sim");
    // The first FLASH_DATA fails to write: the partition is erased and stays so.
    let sim = unit(
        EspSimOptions {
            errors: vec!["FLASH_DATA:flash-write:1".parse().expect("rule")],
            ..EspSimOptions::default()
        },
        flash,
    );
    let failure = bench
        .run(&sim, &reflash(&device_id))
        .result
        .expect_err("loader error");
    assert_eq!(failure.error.reason(), Some(FailReason::LoaderRefused));
    let d = bench.store().find_device(&device_id).expect("d");
    assert_eq!((d.generation, d.pending_generation), (1, None));
    let flash = sim.flash();
    assert_eq!(generation(&flash), None, "the unit was left blank");
    sim.shutdown().expect("sim");
    let sim = unit(EspSimOptions::default(), flash);
    let passed = bench.run(&sim, &reflash(&device_id)).result.expect("retry");
    assert!(passed.outcome.restored);
    assert_unit_holds_the_record(&bench, &sim.flash(), &device_id);
    sim.shutdown().expect("sim");
}

#[test]
fn a_partition_too_small_is_refused_in_words_before_anything_is_erased() {
    let bench = Bench::new();
    let sim = unit(EspSimOptions::default(), flash_with_nvs_size(0x1000));
    let failure = bench.run(&sim, &new_device()).result.expect_err("refused");
    assert_eq!(failure.error.reason(), Some(FailReason::PartitionTooSmall));
    assert!(
        failure.error.to_string().contains("cannot hold"),
        "{}",
        failure.error
    );
    let device_id = failure.device_id.expect("the device it was for");
    let d = bench.store().find_device(&device_id).expect("d");
    assert_eq!((d.generation, d.pending_generation), (0, None));
    sim.shutdown().expect("sim");
}

#[test]
fn another_unit_on_the_port_is_refused_for_a_reflash() {
    // Another ESP32 (another MAC) holding a copy of the device's NVS, and a blank one: neither
    // is the unit the device was flashed into; the record and both units stay as they were.
    let bench = Bench::new();
    let sim = unit(EspSimOptions::default(), Flash::default());
    let first = bench.run(&sim, &new_device()).result.expect("provision");
    let device_id = first.outcome.device.device_id.clone();
    let copy = sim.flash();
    sim.shutdown().expect("sim");
    let other_mac = [0x24, 0x0A, 0xC4, 0x65, 0x43, 0x21];
    let other = |flash: Flash| {
        unit(
            EspSimOptions {
                mac: other_mac,
                ..EspSimOptions::default()
            },
            flash,
        )
    };

    let copied = other(copy.clone());
    let failure = bench
        .run(&copied, &reflash(&device_id))
        .result
        .expect_err("refused");
    assert_eq!(failure.error.reason(), Some(FailReason::HardwareMismatch));
    assert!(
        failure.error.to_string().contains("240AC4654321"),
        "{}",
        failure.error
    );
    assert!(copied.flash() == copy, "the copy was not written");
    copied.shutdown().expect("sim");

    let blank = other(Flash::default());
    let failure = bench
        .run(&blank, &reflash(&device_id))
        .result
        .expect_err("refused");
    assert_eq!(failure.error.reason(), Some(FailReason::NoIdentity));
    blank.shutdown().expect("sim");

    let d = bench.store().find_device(&device_id).expect("d");
    assert_eq!((d.generation, d.pending_generation), (1, None));
    assert_eq!(d.hardware_id.as_deref(), Some(HWID));
}
