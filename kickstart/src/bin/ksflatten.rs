//! `ksflatten [--json] FILE`: print an answer file with its includes
//! resolved, in canonical form, like pykickstart's tool; with `--json`, print
//! the typed model instead (what the installer acts on).
//!
//! Exit status: 0 printed, 1 the file is invalid (diagnostics on stderr),
//! 2 usage error. Warnings go to stderr and do not fail.

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (json, file) = match args.as_slice() {
        [j, f] if j == "--json" => (true, f),
        [f] if !f.starts_with('-') => (false, f),
        _ => {
            eprintln!(
                "usage: ksflatten [--json] FILE\n\n\
                 Prints FILE with %include resolved, in canonical form\n\
                 (--json: the parsed model as JSON).\n\
                 Exit status: 0 ok, 1 invalid, 2 usage."
            );
            return ExitCode::from(2);
        }
    };
    let parsed = match outpost_kickstart::parse_file(Path::new(file)) {
        Ok(parsed) => parsed,
        Err(diags) => {
            eprintln!("{diags}");
            return ExitCode::from(1);
        }
    };
    for w in &parsed.warnings {
        eprintln!("{w}");
    }
    if json {
        match serde_json::to_string_pretty(&parsed.kickstart) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("ksflatten: serialising the model: {e}");
                return ExitCode::from(1);
            }
        }
    } else {
        print!("{}", outpost_kickstart::print::flatten(&parsed.kickstart));
    }
    ExitCode::SUCCESS
}
