//! `ksvalidator FILE…`: check answer files, like pykickstart's tool.
//!
//! Prints every error and warning as `PATH:LINE:COL: error|warning: MESSAGE`
//! on stderr. Exit status: 0 when every file is valid (warnings do not
//! fail), 1 when any file is invalid, 2 on a usage error.

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let files: Vec<String> = std::env::args().skip(1).collect();
    if files.is_empty() || files.iter().any(|f| f == "-h" || f == "--help") {
        eprintln!(
            "usage: ksvalidator FILE...\n\nChecks Outpost answer files (kickstart). Exit status: 0 valid, 1 invalid, 2 usage."
        );
        return ExitCode::from(2);
    }
    let mut bad = false;
    for f in &files {
        match outpost_kickstart::parse_file(Path::new(f)) {
            Ok(parsed) => {
                for w in &parsed.warnings {
                    eprintln!("{w}");
                }
            }
            Err(diags) => {
                eprintln!("{diags}");
                bad = true;
            }
        }
    }
    if bad {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
