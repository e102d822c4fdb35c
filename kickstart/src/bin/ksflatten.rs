//! `ksflatten FILE`: print an answer file with its includes resolved, in
//! canonical form, like pykickstart's tool.
//!
//! Exit status: 0 printed, 1 the file is invalid (diagnostics on stderr),
//! 2 usage error. Warnings go to stderr and do not fail.

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let file = match args.as_slice() {
        [f] if f != "-h" && f != "--help" => f,
        _ => {
            eprintln!(
                "usage: ksflatten FILE\n\nPrints FILE with %include resolved, in canonical form. Exit status: 0 ok, 1 invalid, 2 usage."
            );
            return ExitCode::from(2);
        }
    };
    match outpost_kickstart::parse_file(Path::new(file)) {
        Ok(parsed) => {
            for w in &parsed.warnings {
                eprintln!("{w}");
            }
            print!("{}", outpost_kickstart::print::flatten(&parsed.kickstart));
            ExitCode::SUCCESS
        }
        Err(diags) => {
            eprintln!("{diags}");
            ExitCode::from(1)
        }
    }
}
