//! Property tests with a fixed-seed generator (quick, reproducible): the
//! parser never panics on random bytes or on mutated valid files, every
//! prefix of a valid file parses or fails cleanly, and printing is a fixed
//! point: flatten(parse(flatten(x))) == flatten(x).

use outpost_kickstart::{parse_str, print::flatten};

/// xorshift64*: enough randomness for mutation, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const SEED_FILE: &str = include_str!("../../sites/fuzz-seed.ks");

const PIECES: &[&str] = &[
    "\"",
    "'",
    "\\",
    "#",
    "%end",
    "%post",
    "%packages",
    "%include",
    "--",
    "=",
    " ",
    "\t",
    "\n",
    "\r\n",
    "--size=",
    "part ",
    "autopart",
    "%addon org_outpost\n",
    "user ",
    "é",
    "\u{2028}",
    "\0",
    "-",
    ",",
];

fn check_round_trip(text: &str) {
    if let Ok(p) = parse_str("f.ks", text) {
        let once = flatten(&p.kickstart);
        match parse_str("f.ks", &once) {
            Ok(p2) => assert_eq!(flatten(&p2.kickstart), once, "round trip of:\n{text}"),
            Err(e) => panic!("canonical form does not parse:\n{once}\n{e}\ninput:\n{text}"),
        }
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x5EED_0001);
    for _ in 0..1000 {
        let len = rng.below(200);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let text = String::from_utf8_lossy(&bytes);
        check_round_trip(&text);
    }
}

#[test]
fn mutated_valid_files_never_panic_and_round_trip() {
    check_round_trip(SEED_FILE);
    assert!(
        parse_str("seed.ks", SEED_FILE).is_ok(),
        "{:?}",
        parse_str("seed.ks", SEED_FILE).err().map(|e| e.to_string())
    );
    let mut rng = Rng(0x5EED_0002);
    for _ in 0..1000 {
        let mut s: Vec<char> = SEED_FILE.chars().collect();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(s.len() + 1);
            match rng.below(3) {
                0 if at < s.len() => {
                    let end = (at + 1 + rng.below(8)).min(s.len());
                    s.drain(at..end);
                }
                1 => {
                    let piece = PIECES[rng.below(PIECES.len())];
                    for (i, c) in piece.chars().enumerate() {
                        s.insert(at + i, c);
                    }
                }
                _ => {
                    // Duplicate a line-sized chunk somewhere else.
                    let from = rng.below(s.len());
                    let chunk: Vec<char> = s[from..(from + 40).min(s.len())].to_vec();
                    for (i, c) in chunk.into_iter().enumerate() {
                        s.insert(at.min(s.len()) + i, c);
                    }
                }
            }
        }
        let text: String = s.into_iter().collect();
        check_round_trip(&text);
    }
}

#[test]
fn every_prefix_parses_or_fails_cleanly() {
    // A chunked replay for a line-based format: the file cut after every
    // character gives a result, never a panic.
    let chars: Vec<char> = SEED_FILE.chars().collect();
    for n in 0..=chars.len() {
        let prefix: String = chars[..n].iter().collect();
        let _ = parse_str("p.ks", &prefix);
    }
}

#[test]
fn oversized_input_is_refused() {
    let big = "# x\n".repeat(outpost_kickstart::MAX_INPUT_BYTES / 4 + 1);
    let e = parse_str("big.ks", &big).unwrap_err().to_string();
    assert!(e.contains("input too large"), "{e}");
}

/// Regression: "did you mean" used a quadratic edit distance on the whole
/// word and echoed it, so one huge word took seconds and printed megabytes.
#[test]
fn a_huge_word_is_reported_quickly_and_briefly() {
    let word = "x".repeat(1 << 20);
    let start = std::time::Instant::now();
    let e = parse_str("w.ks", &format!("{word}\nlang --{word}\n")).unwrap_err();
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
    let text = e.to_string();
    assert!(text.len() < 400, "{} bytes of diagnostics", text.len());
    assert!(
        text.contains("unknown command: xxxx") && text.contains('…'),
        "{text}"
    );
}

/// Regression: a file of 200,000 bad lines took seconds (a hint computed for
/// every line); checking now stops after 100 errors and says so.
#[test]
fn checking_stops_after_too_many_errors() {
    let text = "bogus\n".repeat(200_000);
    let start = std::time::Instant::now();
    let e = parse_str("m.ks", &text).unwrap_err();
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(e.errors().count(), 101);
    assert_eq!(
        e.items.last().unwrap().to_string(),
        "m.ks:101:0: error: too many errors (100); stopped checking here"
    );
    let addon = format!("%addon org_outpost\n{}%end\n", "bogus\n".repeat(200_000));
    let e = parse_str("a.ks", &addon).unwrap_err();
    assert_eq!(e.errors().count(), 101);
    assert!(
        e.items.last().unwrap().message.contains("too many errors"),
        "{}",
        e.items.last().unwrap()
    );
}
