//! The station's credentials against real Django (5.2, argon2-cffi): Django's `check_password`
//! accepts the station's hashes in both forms and rejects wrong passwords; the station's
//! verify accepts hashes Django made; with the same salt both make the same bytes.

use station_core::credentials::{verify_password, HashAlgorithm, Hasher, Secret};
use station_e2e::DjangoHashers;

fn algorithms() -> [(HashAlgorithm, bool); 4] {
    [
        // (algorithm, Django's defaults: must_update is false)
        (HashAlgorithm::default(), true),
        ("argon2:m=65536,t=3,p=4".parse().expect("argon2"), false),
        ("pbkdf2_sha256".parse().expect("pbkdf2"), true),
        (
            "pbkdf2_sha256:iterations=260000".parse().expect("pbkdf2"),
            false,
        ),
    ]
}

#[test]
fn django_accepts_station_hashes_and_rejects_wrong_passwords() {
    let mut django = DjangoHashers::start();
    for (algorithm, is_django_default) in algorithms() {
        let mut hasher = Hasher::new(algorithm);
        for _ in 0..2 {
            let password = Secret::generate_password().expect("password");
            let encoded = hasher.hash(&password).expect("hash");
            let (ok, must_update) = django.check(password.expose(), &encoded);
            assert!(
                ok,
                "Django rejected the station's {algorithm} hash {encoded}"
            );
            assert_eq!(must_update, !is_django_default, "{algorithm}: must_update");
            let (ok, _) = django.check("wrong-password", &encoded);
            assert!(!ok, "Django accepted a wrong password for {algorithm}");
            let mut almost = password.expose().to_owned();
            almost.pop();
            assert!(
                !django.check(&almost, &encoded).0,
                "a truncated password passed"
            );
        }
    }
}

#[test]
fn station_verifies_hashes_django_made() {
    let mut django = DjangoHashers::start();
    for algorithm in ["argon2", "pbkdf2_sha256"] {
        let password = Secret::generate_password().expect("password");
        let encoded = django.make(password.expose(), algorithm, None);
        assert!(encoded.starts_with(algorithm), "{encoded}");
        assert!(
            verify_password(&password, &encoded).expect("verify"),
            "{encoded}"
        );
        assert!(!verify_password(&Secret::new("wrong".into()), &encoded).expect("verify"));
    }
}

#[test]
fn same_salt_gives_byte_identical_hashes() {
    let mut django = DjangoHashers::start();
    let password = Secret::new("dG9rZW4tdXJsc2FmZS0zMi1ieXRlcw-example-pw1".into());
    let salt = "AbCdEfGhIjKlMnOpQrStUv";
    for (algorithm, django_name) in [
        (HashAlgorithm::default(), "argon2"),
        ("pbkdf2_sha256".parse().expect("pbkdf2"), "pbkdf2_sha256"),
    ] {
        let ours = Hasher::new(algorithm)
            .hash_with_salt(&password, salt)
            .expect("hash");
        let theirs = django.make(password.expose(), django_name, Some(salt));
        assert_eq!(ours, theirs, "{django_name}");
    }
}

/// The station's sealed boxes are libsodium's `crypto_box_seal`: a key pair made by PyNaCl (as
/// the receiver's `manage.py station_sync_sealkey` makes it), api keys sealed by the station's
/// Rust code, opened by PyNaCl's `SealedBox`; a box sealed to another key does not open.
#[test]
fn api_keys_sealed_by_the_station_open_with_pynacl() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let python = station_e2e::venv_python();
    let script = r#"
import base64, sys
from nacl.public import PrivateKey, SealedBox
key = PrivateKey.generate()
print(base64.b64encode(bytes(key.public_key)).decode(), flush=True)
for line in sys.stdin:
    box = base64.b64decode(line.strip())
    try:
        print(SealedBox(key).decrypt(box).decode("ascii"), flush=True)
    except Exception as e:
        print("REFUSED " + type(e).__name__, flush=True)
"#;
    let mut child = Command::new(python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python");
    let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).expect("public key");
    let server = station_core::seal::SealKey::from_base64(line.trim(), None).expect("key");
    let other = station_core::seal::SealKey::from_base64(
        "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=",
        None,
    )
    .expect("another key");
    let keys: Vec<Secret> = (0..3)
        .map(|_| Secret::generate_api_key().expect("api key"))
        .collect();
    let mut stdin = child.stdin.take().expect("stdin");
    for k in &keys {
        writeln!(stdin, "{}", server.seal(k).expect("seal").sealed).expect("write");
    }
    writeln!(stdin, "{}", other.seal(&keys[0]).expect("seal").sealed).expect("write");
    drop(stdin);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).expect("read");
    assert!(child.wait().expect("wait").success());
    let opened: Vec<&str> = rest.lines().collect();
    let expected: Vec<&str> = keys.iter().map(Secret::expose).collect();
    assert_eq!(
        &opened[..3],
        &expected[..],
        "PyNaCl opens what the station sealed"
    );
    assert_eq!(
        opened[3], "REFUSED CryptoError",
        "a box sealed to another key"
    );
}
