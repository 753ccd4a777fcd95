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
