//! The device model driven the way a station drives it: every request encoded, fed as bytes,
//! the reply decoded. Covers the session, STAGE's offsets and limits, COMMIT's checks in spec
//! order, the reply cache, storage failures, stored blobs and the [`ModelTransport`] link.

use super::*;
use crate::codec::FrameDecoder;
use crate::command::Key;
use crate::config::{config_digest, digest_of, test_vector_config, DeviceConfig};
use crate::message::chunk_value;

const HWID: &str = "0102030405060708";

fn model() -> DeviceModel<MemoryStorage> {
    DeviceModel::new(MemoryStorage::default(), HWID, "t-1").expect("model")
}

/// Sends one request, returns the decoded reply words.
fn ask(m: &mut DeviceModel<MemoryStorage>, seq: u8, req: &Request) -> Vec<String> {
    let out = m.feed(&req.encode(seq));
    let frames = FrameDecoder::new().push_slice(&out);
    assert_eq!(frames.len(), 1, "one reply per request");
    assert_eq!(frames[0].seq, seq);
    frames[0].words.clone()
}

/// Found by the C port's review: an unknown word of ~180 bytes, echoed escaped, made a
/// 588-byte reply that no station accepts. Echoes are cut to MAX_ECHO_BYTES.
#[test]
fn regression_long_unknown_words_still_get_a_reply_that_fits_a_frame() {
    let mut m = model();
    for body in [
        format!("@DH1 01 {}", "%".repeat(180)),
        format!("@DH1 02 STAGE {} 0 x", "~".repeat(170)),
        format!("@DH1 03 READ {} 0", "Z".repeat(175)),
    ] {
        let line = format!("{body} *{:04X}\r\n", crate::codec::crc16(body.as_bytes()));
        assert!(
            line.len() <= spec::MAX_FRAME_LEN,
            "request {} bytes",
            line.len()
        );
        let out = m.feed(line.as_bytes());
        assert!(
            out.len() <= spec::MAX_FRAME_LEN,
            "reply of {} bytes",
            out.len()
        );
        let frames = FrameDecoder::new().push_slice(&out);
        assert_eq!(
            frames.len(),
            1,
            "the station can read the reply: {}",
            String::from_utf8_lossy(&out)
        );
        assert_eq!(frames[0].words[0], "ERR");
    }
}

fn stage(key: Key, offset: usize, chunk: &[u8]) -> Request {
    Request::Stage {
        key,
        offset,
        chunk: Zeroizing::new(chunk.to_vec()),
    }
}

fn stage_all(m: &mut DeviceModel<MemoryStorage>, cfg: &DeviceConfig, seq: &mut u8) {
    for key in Key::ALL {
        let value = cfg.value(key);
        let mut offset = 0;
        for chunk in chunk_value(&value) {
            *seq += 1;
            let words = ask(m, *seq, &stage(key, offset, chunk));
            assert_eq!(words[0], "OK", "{key}: {words:?}");
            offset += chunk.len();
        }
    }
}

fn commit(digest: [u8; 32], hwid: &str) -> Request {
    Request::Commit {
        digest,
        hardware_id: hwid.to_owned(),
    }
}

#[test]
fn full_write_commits_and_survives_a_reload() {
    let mut m = model();
    let cfg = test_vector_config();
    let mut seq = 1;
    assert_eq!(ask(&mut m, seq, &Request::Begin), vec!["OK", "BEGIN"]);
    stage_all(&mut m, &cfg, &mut seq);
    seq += 1;
    let words = ask(&mut m, seq, &commit(config_digest(&cfg), HWID));
    assert_eq!(words, vec!["OK", "COMMIT", "1"]);
    assert!(!m.in_session());
    let storage = m.storage().clone();
    let reloaded = DeviceModel::new(storage, HWID, "t-1").expect("reload");
    assert_eq!(
        reloaded.committed().expect("config").to_device_config(),
        Ok(cfg)
    );
}

#[test]
fn retransmission_is_answered_from_cache_and_not_applied_twice() {
    let mut m = model();
    let cfg = test_vector_config();
    ask(&mut m, 1, &Request::Begin);
    let first = m.feed(&stage(Key::DeviceId, 0, b"abc").encode(2));
    // Same seq, same bytes: cached reply. A new chunk at offset 3 would otherwise append.
    let again = m.feed(&stage(Key::DeviceId, 0, b"abc").encode(2));
    assert_eq!(first, again);
    let words = ask(&mut m, 3, &stage(Key::DeviceId, 3, b"def"));
    assert_eq!(words, vec!["OK", "STAGE", "device_id", "6"]);
    // A repeated chunk under a new seq lands at the same offset: still 6 bytes.
    let words = ask(&mut m, 4, &stage(Key::DeviceId, 3, b"def"));
    assert_eq!(words, vec!["OK", "STAGE", "device_id", "6"]);
    let mut seq = 4;
    stage_all(&mut m, &cfg, &mut seq);
    seq += 1;
    let ok = m.feed(&commit(config_digest(&cfg), HWID).encode(seq));
    let replay = m.feed(&commit(config_digest(&cfg), HWID).encode(seq));
    assert_eq!(ok, replay, "lost COMMIT reply is recovered");
    // A new COMMIT (new seq) finds no session: the first one closed it.
    let words = ask(&mut m, seq + 1, &commit(config_digest(&cfg), HWID));
    assert_eq!(words[2], "NO_SESSION");
}

#[test]
fn hello_clears_the_cache() {
    // A COMMIT whose reply is cached, then HELLO, then the very same COMMIT frame again:
    // with the cache cleared it is a new request (no session: NO_SESSION); a cache that
    // survived HELLO would answer the cached OK. (The C port's review found the previous
    // version of this test passed either way.)
    let cfg = test_vector_config();
    let digest = config_digest(&cfg);
    let mut m = model();
    let mut seq = 1;
    ask(&mut m, seq, &Request::Begin);
    stage_all(&mut m, &cfg, &mut seq);
    seq += 1;
    let commit_seq = seq;
    assert_eq!(ask(&mut m, commit_seq, &commit(digest, HWID))[0], "OK");
    // Without HELLO, the retransmission gets the cached OK.
    assert_eq!(ask(&mut m, commit_seq, &commit(digest, HWID))[0], "OK");
    ask(
        &mut m,
        commit_seq.wrapping_add(1),
        &Request::Hello { version: 1 },
    );
    let words = ask(&mut m, commit_seq, &commit(digest, HWID));
    assert_eq!(
        words[2], "NO_SESSION",
        "HELLO did not clear the reply cache: {words:?}"
    );
}

#[test]
fn commit_checks_in_spec_order() {
    let cfg = test_vector_config();
    let digest = config_digest(&cfg);
    let mut m = model();
    assert_eq!(ask(&mut m, 1, &commit(digest, HWID))[2], "NO_SESSION");
    ask(&mut m, 2, &Request::Begin);
    assert_eq!(ask(&mut m, 3, &commit(digest, "FFFF"))[2], "HWID_MISMATCH");
    assert!(!m.in_session(), "a refused COMMIT ends the session");
    ask(&mut m, 4, &Request::Begin);
    ask(&mut m, 5, &stage(Key::DeviceId, 0, b"x"));
    assert_eq!(
        ask(&mut m, 6, &commit(digest, HWID))[2..],
        ["MISSING_KEY", "mqtt_username"]
    );
    ask(&mut m, 7, &Request::Begin);
    let mut seq = 7;
    stage_all(&mut m, &cfg, &mut seq);
    assert_eq!(
        ask(&mut m, 30, &commit([0; 32], HWID))[2],
        "DIGEST_MISMATCH"
    );
    // A bad value that matches its digest is BAD_VALUE: the station sent it on purpose.
    ask(&mut m, 31, &Request::Begin);
    let mut bad = cfg.clone();
    bad.device_id = "dh-000123".into();
    let mut seq = 31;
    stage_all(&mut m, &bad, &mut seq);
    ask(&mut m, 50, &stage(Key::BrokerPort, 0, b"08883"));
    let values: Vec<Zeroizing<Vec<u8>>> = Key::ALL
        .iter()
        .map(|k| {
            if *k == Key::BrokerPort {
                Zeroizing::new(b"08883".to_vec())
            } else {
                bad.value(*k)
            }
        })
        .collect();
    let digest = digest_of(|k| values[k.index()].as_slice());
    assert_eq!(
        ask(&mut m, 51, &commit(digest, HWID))[2..],
        ["BAD_VALUE", "broker_port"]
    );
    assert!(m.committed().is_none());
}

#[test]
fn storage_failure_keeps_the_old_config() {
    let mut m = model();
    let cfg = test_vector_config();
    let mut seq = 1;
    ask(&mut m, seq, &Request::Begin);
    stage_all(&mut m, &cfg, &mut seq);
    m.storage_mut().fail_with = Some(StorageError::Failed("flash timeout".into()));
    assert_eq!(
        ask(&mut m, 40, &commit(config_digest(&cfg), HWID))[2],
        "STORAGE_FAILED"
    );
    assert!(m.committed().is_none());
    assert!(m.storage().blob.is_none());
}

#[test]
fn stage_offsets_and_limits() {
    let mut m = model().with_staging_capacity(300);
    assert_eq!(
        ask(&mut m, 1, &stage(Key::DeviceId, 0, b"a"))[2],
        "NO_SESSION"
    );
    ask(&mut m, 2, &Request::Begin);
    assert_eq!(
        ask(&mut m, 3, &stage(Key::DeviceId, 1, b"a"))[2..],
        ["BAD_OFFSET", "device_id"]
    );
    assert_eq!(
        ask(&mut m, 4, &stage(Key::BrokerTls, 0, b"10"))[2..],
        ["BAD_VALUE", "broker_tls"]
    );
    ask(&mut m, 5, &stage(Key::TopicData, 0, &[b'a'; 100]));
    ask(&mut m, 6, &stage(Key::TopicStatus, 0, &[b'a'; 100]));
    assert_eq!(
        ask(&mut m, 7, &stage(Key::TopicCmd, 0, &[b'a'; 101]))[2],
        "STORAGE_FULL"
    );
    // Restaging a key at offset 0 replaces it rather than adding to the total.
    assert_eq!(
        ask(&mut m, 8, &stage(Key::TopicData, 0, &[b'b'; 100]))[0],
        "OK"
    );
}

/// Firmware README, spec note 3: a chunk over 128 escaped bytes fits a 200-byte frame but
/// breaks §4.4. It is refused as malformed (a parse error: no session needed, nothing
/// staged, not cached), and the limit counts the word as received, not the value's bytes.
#[test]
fn stage_chunk_over_128_escaped_bytes_is_refused() {
    let max = spec::MAX_CHUNK_ENCODED;
    let mut m = model();
    // Without a session: BAD_FRAME, not NO_SESSION (§7.3 step 2 comes first).
    let words = ask(&mut m, 1, &stage(Key::TopicData, 0, &vec![b'a'; max + 1]));
    assert_eq!(words[2..], ["BAD_FRAME"]);
    ask(&mut m, 2, &Request::Begin);
    let at_limit = vec![b'a'; max];
    let first = m.feed(&stage(Key::TopicData, 0, &at_limit).encode(3));
    assert_eq!(
        FrameDecoder::new().push_slice(&first)[0].words,
        ["OK", "STAGE", "topic_data", max.to_string().as_str()],
        "exactly {max} escaped bytes is a valid chunk"
    );
    // 43 bytes of '%' escape to 129: refused although the value is far below max_len.
    let percent = vec![b'%'; max / 3 + 1];
    assert_eq!(
        ask(&mut m, 4, &stage(Key::TopicData, max, &percent))[2..],
        ["BAD_FRAME"]
    );
    // Lower-case escapes and escapes nobody needed count at their received length.
    for (seq, word) in [
        (5, "%61".repeat(43)),
        (6, format!("{}%2a", "a".repeat(126))),
    ] {
        let frame = Frame::encode(seq, &["STAGE", "topic_data", &max.to_string(), &word]);
        let out = m.feed(&frame);
        assert_eq!(
            FrameDecoder::new().push_slice(&out)[0].words[2..],
            ["BAD_FRAME"],
            "{word}"
        );
    }
    // An unknown key is still UNKNOWN_KEY: the key is parsed before the chunk.
    let frame = Frame::encode(7, &["STAGE", "colour", "0", &"a".repeat(max + 1)]);
    let out = m.feed(&frame);
    assert_eq!(
        FrameDecoder::new().push_slice(&out)[0].words[2..],
        ["UNKNOWN_KEY", "colour"]
    );
    // Nothing was staged, and the refusals did not replace the cached reply to seq 3.
    assert_eq!(
        m.feed(&stage(Key::TopicData, 0, &at_limit).encode(3)),
        first
    );
    assert_eq!(
        ask(&mut m, 8, &stage(Key::TopicData, max, b"b"))[2..],
        ["topic_data", (max + 1).to_string().as_str()]
    );
    // The spec's vector (§8.2): the same answer with the session open.
    let out = m.feed(&stage(Key::MqttPassword, 0, &percent).encode(0x10));
    assert_eq!(out, b"@DH1 10 ERR STAGE BAD_FRAME *FD87\r\n");
}

/// The station's own writes never hit that limit: the worst case for escaping (every byte
/// escaped, every value at its longest) goes through the client into the model.
#[test]
fn station_chunks_never_exceed_128_escaped_bytes() {
    let mut cfg = test_vector_config();
    let percent = |n: usize| "%".repeat(n);
    cfg.mqtt_username = percent(spec::MAX_CREDENTIAL_LEN);
    cfg.mqtt_password = Zeroizing::new(percent(spec::MAX_CREDENTIAL_LEN));
    cfg.api_key = Zeroizing::new(percent(spec::MAX_CREDENTIAL_LEN));
    cfg.broker_host = percent(spec::MAX_BROKER_HOST_LEN);
    cfg.topic_data = percent(spec::MAX_TOPIC_LEN);
    cfg.topic_status = "\u{20ac}".repeat(spec::MAX_TOPIC_LEN / 3);
    cfg.topic_cmd = " ".repeat(spec::MAX_TOPIC_LEN);
    let mut client = crate::Client::new(ModelTransport::new(model()));
    let id = client.hello().expect("hello");
    client
        .write_config(&cfg, &id.hardware_id, &mut |_| {})
        .expect("every chunk accepted");
    let link = client.into_inner();
    assert_eq!(
        link.model
            .committed()
            .expect("committed")
            .to_device_config(),
        Ok(cfg)
    );
}

/// Firmware README, spec note 5: a stored generation that is not canonical decimal (spec
/// §5.1) reads as 0, as the C module reads it; HELLO reports what was read.
#[test]
fn stored_generation_is_read_as_canonical_decimal_only() {
    let cfg = test_vector_config();
    for (text, want) in [
        ("7", 7),
        ("0", 0),
        ("4294967295", u32::MAX),
        ("+7", 0),
        ("007", 0),
        ("00", 0),
        ("4294967296", 0),
        ("99999999999", 0),
        ("-1", 0),
        ("", 0),
    ] {
        let values: Vec<Zeroizing<Vec<u8>>> = Key::ALL
            .iter()
            .map(|k| {
                if *k == Key::Generation {
                    Zeroizing::new(text.as_bytes().to_vec())
                } else {
                    cfg.value(*k)
                }
            })
            .collect();
        let blob = StoredConfig::from_values(values).to_blob().to_vec();
        let stored = StoredConfig::from_blob(&blob).expect("well-formed blob");
        assert_eq!(stored.generation(), want, "{text:?}");
        let storage = MemoryStorage {
            blob: Some(blob),
            fail_with: None,
        };
        let mut m = DeviceModel::new(storage, HWID, "t-1").expect("model");
        let words = ask(&mut m, 1, &Request::Hello { version: 1 });
        assert_eq!(words[6], want.to_string(), "{text:?}");
    }
}

#[test]
fn read_returns_public_values_in_chunks_and_never_secrets() {
    let mut m = model();
    assert_eq!(
        ask(
            &mut m,
            1,
            &Request::Read {
                key: Key::DeviceId,
                offset: 0
            }
        )[2],
        "NO_CONFIG"
    );
    let mut cfg = test_vector_config();
    cfg.topic_data = "t/".repeat(100);
    let mut seq = 2;
    ask(&mut m, seq, &Request::Begin);
    stage_all(&mut m, &cfg, &mut seq);
    seq += 1;
    ask(&mut m, seq, &commit(config_digest(&cfg), HWID));
    let words = ask(
        &mut m,
        60,
        &Request::Read {
            key: Key::TopicData,
            offset: 0,
        },
    );
    assert_eq!(words[2..5], ["topic_data", "0", "200"]);
    assert_eq!(words[5].len(), spec::MAX_CHUNK_ENCODED);
    let words = ask(
        &mut m,
        61,
        &Request::Read {
            key: Key::TopicData,
            offset: spec::MAX_CHUNK_ENCODED,
        },
    );
    assert_eq!(words[5].len(), 200 - spec::MAX_CHUNK_ENCODED);
    for key in [Key::MqttPassword, Key::ApiKey] {
        let words = ask(&mut m, 62, &Request::Read { key, offset: 0 });
        assert_eq!(words[2], "WRITE_ONLY");
    }
}

#[test]
fn hello_reports_identity_and_version_refusal() {
    let mut m = model();
    let words = ask(&mut m, 1, &Request::Hello { version: 3 });
    assert_eq!(
        words,
        vec![
            "OK",
            "HELLO",
            "1",
            "CHUNK,READ,BAUD,PROVE",
            HWID,
            "t-1",
            "-"
        ]
    );
    let mut v1 = model().with_baud_rates(&[]).with_prove(false);
    let words = ask(&mut v1, 1, &Request::Hello { version: 1 });
    assert_eq!(
        words,
        vec!["OK", "HELLO", "1", "CHUNK,READ", HWID, "t-1", "-"],
        "a 1.0 unit offers neither BAUD nor PROVE"
    );
    let words = ask(&mut m, 2, &Request::Hello { version: 0 });
    assert_eq!(words[2..], ["UNSUPPORTED_VERSION", "1"]);
    let words = ask(&mut m, 0, &Request::Begin);
    assert_eq!(words[2], "BAD_FRAME");
}

#[test]
fn torn_blob_means_unprovisioned() {
    let cfg = test_vector_config();
    let mut blob = StoredConfig::from_config(&cfg).to_blob().to_vec();
    let storage = MemoryStorage {
        blob: Some(blob.clone()),
        fail_with: None,
    };
    assert!(DeviceModel::new(storage, HWID, "t-1")
        .expect("ok")
        .committed()
        .is_some());
    let n = blob.len();
    blob[n / 2] ^= 0xFF;
    let storage = MemoryStorage {
        blob: Some(blob),
        fail_with: None,
    };
    assert!(DeviceModel::new(storage, HWID, "t-1")
        .expect("ok")
        .committed()
        .is_none());
    assert_eq!(
        StoredConfig::from_blob(b"DHCFG1"),
        Err(BlobError::Malformed)
    );
}

#[test]
fn client_over_model_transport_writes_and_identifies() {
    let mut client = crate::Client::new(ModelTransport::new(model()));
    let id = client.hello().expect("hello");
    assert_eq!(id.generation, None);
    let cfg = test_vector_config();
    client
        .write_config(&cfg, &id.hardware_id, &mut |_| {})
        .expect("write");
    let id = client.hello().expect("hello");
    assert_eq!(id.device_id.as_deref(), Some("dh-000123"));
    let link = client.into_inner();
    assert_eq!(
        link.model
            .committed()
            .expect("committed")
            .to_device_config(),
        Ok(cfg)
    );
}

#[test]
fn debug_output_has_no_secrets() {
    let cfg = test_vector_config();
    let text = format!("{:?}", StoredConfig::from_config(&cfg));
    assert!(!text.contains("s3cr3t"));
    assert!(!text.contains("ak_live"));
}

/// The cache is touched only by requests the model acts on: a frame that does not parse, and
/// a HELLO on the unsolicited seq (refused before HELLO would clear it), leave the cached reply
/// to the last request in place, so its retransmission is still answered, not applied again.
#[test]
fn unparsed_frames_and_unsolicited_hello_leave_the_cache_alone() {
    let mut m = model();
    ask(&mut m, 1, &Request::Begin);
    ask(&mut m, 2, &stage(Key::DeviceId, 0, b"abc"));
    let bytes = stage(Key::DeviceId, 0, b"abc").encode(2);
    let retransmit = FrameDecoder::new().push_slice(&bytes).remove(0);
    let out = m.feed(&Frame::encode(3, &["FLY"]));
    assert_eq!(
        FrameDecoder::new().push_slice(&out)[0].words[2],
        "UNKNOWN_COMMAND"
    );
    let words = ask(
        &mut m,
        spec::SEQ_UNSOLICITED,
        &Request::Hello { version: 1 },
    );
    assert_eq!(words[2], "BAD_FRAME");
    let handled = m.handle_frame(&retransmit);
    assert!(handled.replayed && handled.ok, "{handled:?}");
    // A HELLO the model acts on does start a new conversation.
    ask(&mut m, 4, &Request::Hello { version: 1 });
    assert!(!m.handle_frame(&retransmit).replayed);
}

/// §10.4: a refused seq-00 request of any command is neither cached nor clears the cache, so
/// a stray seq-00 COMMIT cannot cost a retransmitted COMMIT its cached OK.
#[test]
fn a_seq_00_refusal_leaves_the_cached_commit_reply_alone() {
    let mut m = model();
    let cfg = test_vector_config();
    let mut seq = 1;
    ask(&mut m, seq, &Request::Begin);
    stage_all(&mut m, &cfg, &mut seq);
    seq += 1;
    let ok = m.feed(&commit(config_digest(&cfg), HWID).encode(seq));
    for req in [
        Request::Begin,
        commit(config_digest(&cfg), HWID),
        Request::Abort,
    ] {
        let words = ask(&mut m, spec::SEQ_UNSOLICITED, &req);
        assert_eq!(words[2], "BAD_FRAME");
    }
    let replay = m.feed(&commit(config_digest(&cfg), HWID).encode(seq));
    assert_eq!(
        ok, replay,
        "the seq-00 refusal replaced the cached OK COMMIT"
    );
}

/// Writes `cfg` in one session at seqs after `seq`; returns the COMMIT reply's words.
fn write(m: &mut DeviceModel<MemoryStorage>, cfg: &DeviceConfig, seq: &mut u8) -> Vec<String> {
    *seq += 1;
    let begun = ask(m, *seq, &Request::Begin);
    if begun[0] != "OK" {
        return begun;
    }
    stage_all(m, cfg, seq);
    *seq += 1;
    ask(m, *seq, &commit(config_digest(cfg), HWID))
}

fn with_generation(generation: u32) -> DeviceConfig {
    DeviceConfig {
        generation,
        ..test_vector_config()
    }
}

#[test]
fn a_gated_unit_takes_its_first_write_then_is_locked_until_allowed() {
    let mut m = model().with_write_gate(true);
    assert!(m.capabilities().iter().any(|c| c == spec::CAP_GATE));
    let mut seq = 0;
    assert_eq!(
        write(&mut m, &with_generation(1), &mut seq)[..2],
        ["OK", "COMMIT"]
    );
    // BEGIN refused, nothing done: no session opened.
    assert_eq!(
        write(&mut m, &with_generation(2), &mut seq),
        ["ERR", "BEGIN", "LOCKED"]
    );
    assert!(!m.in_session());
    assert_eq!(m.committed().map(StoredConfig::generation), Some(1));
    // Allowed: the write passes.
    m.set_write_allowed(true);
    assert_eq!(
        write(&mut m, &with_generation(2), &mut seq),
        ["OK", "COMMIT", "2"]
    );
    // Allowed at BEGIN, withdrawn before COMMIT (the jumper pulled): COMMIT is LOCKED, first
    // after NO_SESSION (spec §4.5 step 2), and the session ends.
    seq += 1;
    ask(&mut m, seq, &Request::Begin);
    let cfg = with_generation(3);
    stage_all(&mut m, &cfg, &mut seq);
    m.set_write_allowed(false);
    seq += 1;
    assert_eq!(
        ask(&mut m, seq, &commit([0; 32], "0A0B")),
        ["ERR", "COMMIT", "LOCKED"]
    );
    assert!(!m.in_session());
    assert_eq!(m.committed().map(StoredConfig::generation), Some(2));
}

#[test]
fn a_gated_unit_refuses_a_generation_that_is_not_above_its_own_allowed_or_not() {
    let mut m = model().with_write_gate(true).with_write_allowed(true);
    let mut seq = 0;
    write(&mut m, &with_generation(5), &mut seq);
    for g in [5, 4, 1, 0] {
        assert_eq!(
            write(&mut m, &with_generation(g), &mut seq),
            ["ERR", "COMMIT", "STALE_GENERATION"],
            "generation {g}"
        );
        assert!(!m.in_session());
        assert_eq!(m.committed().map(StoredConfig::generation), Some(5));
    }
    // After BAD_VALUE in the order: a bad value is named first.
    seq += 1;
    ask(&mut m, seq, &Request::Begin);
    let mut cfg = with_generation(1);
    cfg.broker_host = String::new();
    for key in Key::ALL {
        seq += 1;
        ask(&mut m, seq, &stage(key, 0, &cfg.value(key)));
    }
    let staged: Vec<Vec<u8>> = Key::ALL.iter().map(|k| cfg.value(*k).to_vec()).collect();
    let staged_digest = digest_of(|k| staged[k.index()].as_slice());
    seq += 1;
    assert_eq!(
        ask(&mut m, seq, &commit(staged_digest, HWID)),
        ["ERR", "COMMIT", "BAD_VALUE", "broker_host"]
    );
    assert_eq!(
        write(&mut m, &with_generation(6), &mut seq),
        ["OK", "COMMIT", "6"]
    );
    // A unit without the gate takes any generation, as in version 1.0.
    let mut open = model();
    write(&mut open, &with_generation(5), &mut seq);
    assert_eq!(
        write(&mut open, &with_generation(1), &mut seq),
        ["OK", "COMMIT", "1"]
    );
}

#[test]
fn a_frame64_unit_lists_it_and_refuses_a_longer_stage_as_malformed_uncached() {
    let mut m = model().with_frame_limit(spec::MIN_FRAME_LIMIT);
    assert!(m.capabilities().iter().any(|c| c == "FRAME64"));
    ask(&mut m, 1, &Request::Begin);
    let at = crate::message::stage_frame_overhead(Key::TopicData, 0);
    let fits = "a".repeat(spec::MIN_FRAME_LIMIT - at);
    let over = "a".repeat(spec::MIN_FRAME_LIMIT - at + 1);
    assert_eq!(
        stage(Key::TopicData, 0, fits.as_bytes()).encode(2).len(),
        64
    );
    assert_eq!(
        ask(&mut m, 2, &stage(Key::TopicData, 0, fits.as_bytes()))[0],
        "OK"
    );
    let retransmit = stage(Key::TopicData, 0, fits.as_bytes()).encode(2);
    assert_eq!(
        ask(&mut m, 3, &stage(Key::TopicData, 0, over.as_bytes())),
        ["ERR", "STAGE", "BAD_FRAME"]
    );
    let h = m.handle_frame(&FrameDecoder::new().push_slice(&retransmit)[0]);
    assert!(h.replayed, "the refusal replaced the cache");
    // Every other request is as long as ever: a COMMIT of 120 bytes is read and answered.
    let words = ask(&mut m, 4, &commit([0; 32], &"AB".repeat(16)));
    assert_eq!(words[2], "HWID_MISMATCH");
    // A full write in the station's chunks for 64-byte frames.
    let mut seq = 10;
    let cfg = test_vector_config();
    seq += 1;
    ask(&mut m, seq, &Request::Begin);
    for key in Key::ALL {
        let value = cfg.value(key);
        let mut offset = 0;
        for chunk in crate::message::stage_chunks(key, &value, spec::MIN_FRAME_LIMIT) {
            seq += 1;
            let req = stage(key, offset, chunk);
            assert!(req.encode(seq).len() <= spec::MIN_FRAME_LIMIT);
            assert_eq!(ask(&mut m, seq, &req)[0], "OK");
            offset += chunk.len();
        }
    }
    seq += 1;
    assert_eq!(
        ask(&mut m, seq, &commit(config_digest(&cfg), HWID))[0],
        "OK"
    );
}
