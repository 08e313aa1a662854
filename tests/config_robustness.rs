//! No input makes validation panic: truncations and byte mutations of a real environment file
//! (seeded, so a failure reproduces) all end in Ok or a reported error.

use ragstack::config::{self, EnvironmentSource, Target};

fn dev() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/environments/dev.toml")).unwrap()
}

fn check(text: String) -> bool {
    let source = EnvironmentSource { name: "dev".into(), display: "fuzz.toml".into(), text, dir: None };
    let target = Target { region: "us-east-1".into(), account: None, skip_region_check: false };
    let outcome = std::panic::catch_unwind(|| config::load(&source, &target).is_ok());
    match outcome {
        Ok(ok) => ok,
        Err(_) => panic!("validation panicked on:\n{}", source.text),
    }
}

#[test]
fn every_truncation_is_handled() {
    let text = dev();
    let mut accepted = 0;
    for cut in (0..text.len()).step_by(3) {
        if text.is_char_boundary(cut) && check(text[..cut].to_string()) {
            accepted += 1;
        }
    }
    // Only cuts that keep every required key can pass; most do not.
    assert!(accepted < text.len() / 3 / 2, "{accepted} truncations accepted");
}

#[test]
fn seeded_mutations_are_handled() {
    let original = dev().into_bytes();
    let mut seed: u64 = 0x5eed_1234_abcd_0001;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let alphabet = b"=[]\"'#\n.,-_0123456789aZ {}\\\t";
    for _ in 0..3000 {
        let mut bytes = original.clone();
        for _ in 0..(1 + next() % 4) {
            let at = (next() as usize) % bytes.len();
            match next() % 3 {
                0 => bytes[at] = alphabet[(next() as usize) % alphabet.len()],
                1 => {
                    bytes.remove(at);
                }
                _ => bytes.insert(at, alphabet[(next() as usize) % alphabet.len()]),
            }
        }
        check(String::from_utf8_lossy(&bytes).into_owned());
    }
    // Extreme values that parse but must be rejected, not overflow.
    for (old, new) in [
        ("memory_mb = 512", "memory_mb = 9223372036854775807"),
        ("max_tokens = 300", "max_tokens = -9223372036854775808"),
        ("throttling_rate_limit = 5.0", "throttling_rate_limit = nan"),
        ("throttling_rate_limit = 5.0", "throttling_rate_limit = inf"),
        ("prefix = \"ragstack\"", "prefix = \"\""),
        ("name = \"documents\"", "name = \"\u{1F600}\""),
    ] {
        assert!(!check(dev().replacen(old, new, 1)), "{new} accepted");
    }
}
