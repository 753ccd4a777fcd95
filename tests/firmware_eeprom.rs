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
//! The board, the station and the sweep are `station_e2e::simavr`'s, shared with the Arduino
//! sketch's test (`tests/firmware_arduino_sim.rs`).
//!
//! Needs `avr-gcc` and simavr's library (`scripts/setup-deps.sh`: gcc-avr avr-libc
//! libsimavr-dev); builds with `make -C firmware avr-eeprom sim`.

use std::fs;

use station_e2e::simavr::{
    c_number, cut_run, firmware_dir, hello, make_firmware, provisioned_base, reflash_writes,
    runner, sweep, Board, CutAt, Unit, CUT_AFTER, CUT_BEFORE, CUT_TORN, DEVICE_ID,
};

const PORT_HEADER: &str = "ports/avr_eeprom/dh_nv_avr_eeprom.h";

/// The example built with its config in EEPROM, and how the port lays it out: two slots of
/// DH_NV_EE_SLOT_SPAN bytes, each a header (marker, seq, len) then the blob; the newest slot
/// whose marker says committed holds the config.
fn unit() -> Unit {
    make_firmware(&["avr-eeprom"]);
    let text = fs::read_to_string(firmware_dir().join(PORT_HEADER)).expect("read the port header");
    let slot_span = c_number(&text, PORT_HEADER, "DH_NV_EE_SLOT_SPAN");
    let header = c_number(&text, PORT_HEADER, "DH_NV_EE_HEADER");
    let committed =
        u8::try_from(c_number(&text, PORT_HEADER, "DH_NV_EE_COMMITTED")).expect("a byte");
    let committed_blob = move |image: &[u8]| -> Option<Vec<u8>> {
        let current = current_slot(image, slot_span, committed)?;
        let s = &image[current * slot_span..(current + 1) * slot_span];
        let len = usize::from(u16::from_le_bytes([s[2], s[3]]));
        (len > 0 && header + len <= slot_span).then(|| s[header..header + len].to_vec())
    };
    Unit {
        elf: firmware_dir().join("build/avr-eeprom/dh-avr-eeprom.elf"),
        runner: runner(),
        committed_blob: Box::new(committed_blob),
        write_pins: Vec::new(),
    }
}

/// The slot BOOT picks: marked committed, and of two the newer seq.
fn current_slot(image: &[u8], slot_span: usize, committed: u8) -> Option<usize> {
    let slot = |i: usize| &image[i * slot_span..(i + 1) * slot_span];
    let marked = |i: usize| slot(i)[0] == committed;
    match (marked(0), marked(1)) {
        (true, true) => Some(usize::from((slot(1)[1].wrapping_sub(slot(0)[1]) as i8) > 0)),
        (true, false) => Some(0),
        (false, true) => Some(1),
        (false, false) => None,
    }
}

/// The station provisions the unit, the config survives power cycles in the EEPROM file, and
/// a re-flash's commit writes the EEPROM only inside COMMIT.
#[test]
fn simavr_eeprom_unit_is_provisioned_by_the_station_and_keeps_its_config() {
    let u = unit();
    let root = tempfile::tempdir().expect("tempdir");
    let base = provisioned_base(&u, root.path());
    // Power cycles without a flash write nothing and keep generation 2.
    let board = Board::power_on(&u, &base, None, &[]);
    assert_eq!(hello(&board.port), (Some(DEVICE_ID.into()), Some(2)));
    assert_eq!(board.power_off(), 0, "a boot and a HELLO wrote the EEPROM");
}

/// Power cut at every EEPROM byte write of a re-flash's commit: the unit boots with the old
/// config or the new one, and the station settles its record to match.
#[test]
fn simavr_power_cut_at_every_eeprom_write_of_a_commit_leaves_old_or_new() {
    let u = unit();
    let root = tempfile::tempdir().expect("tempdir");
    let base = provisioned_base(&u, root.path());
    let writes = reflash_writes(&u, &base, root.path());
    eprintln!("one re-flash commits with {writes} EEPROM byte writes");

    let mut s = sweep(&u, &base, root.path(), 2, &|_| vec![CUT_BEFORE, CUT_TORN]);
    eprintln!(
        "by position: {} power cuts at {} EEPROM write positions (each before and torn, and the \
         last one 'after'): {} booted the old config, {} the new one",
        s.cuts, s.positions, s.old, s.new
    );
    // A run's count of writes varies by a few (random bytes that already hold their value are
    // skipped), so the last position need not be a run's commit point: cut the commit point by
    // address too, the target slot's marker on its second write (the first unmarks it).
    let text = fs::read_to_string(firmware_dir().join(PORT_HEADER)).expect("read the port header");
    let slot_span = c_number(&text, PORT_HEADER, "DH_NV_EE_SLOT_SPAN");
    let committed =
        u8::try_from(c_number(&text, PORT_HEADER, "DH_NV_EE_COMMITTED")).expect("a byte");
    let image = fs::read(base.join("eeprom.bin")).expect("base EEPROM");
    let current = current_slot(&image, slot_span, committed).expect("a committed slot");
    let marker = u16::try_from((1 - current) * slot_span).expect("an EEPROM address");
    for (mode, want) in [(CUT_BEFORE, 2), (CUT_TORN, 2), (CUT_AFTER, 3)] {
        let at = CutAt::Address(marker, 2);
        let g = cut_run(&u, &base, root.path(), 2, at, mode)
            .unwrap_or_else(|| panic!("the commit never wrote its marker twice ({at})"));
        assert_eq!(g, want, "power cut at {at} ({mode})");
        s.count(mode, g, 2);
    }
    eprintln!(
        "in all: {} power cuts ({} before, {} torn, {} after): {} booted the old config, {} the \
         new one, none neither",
        s.cuts, s.before, s.torn, s.after, s.old, s.new
    );
    assert!(
        s.positions >= writes.saturating_sub(writes / 8),
        "{} cut points for a commit of {writes} writes",
        s.positions
    );
    assert!(s.old > 0 && s.new > 0, "every cut gave the same outcome");
}
