//! `ksrender [SITE.yaml]`: render an answer file from a site file (or the
//! embedded default site) to stdout.
//!
//! The result is parsed and validated before it is printed. Exit status: 0
//! rendered, 1 the site or the rendered file is invalid, 2 usage error.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [] => outpost_kickstart::render::render_default(),
        [f] if f == "-h" || f == "--help" => return usage(),
        [f] if f == "--print-default-site" => {
            print!("{}", outpost_kickstart::render::DEFAULT_SITE);
            return ExitCode::SUCCESS;
        }
        [f] => match std::fs::read_to_string(f) {
            Ok(yaml) => outpost_kickstart::render::render_site(&yaml, f),
            Err(e) => {
                eprintln!("ksrender: reading {f}: {e}");
                return ExitCode::from(1);
            }
        },
        _ => return usage(),
    };
    match result {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: ksrender [SITE.yaml | --print-default-site]\n\n\
         Renders an Outpost answer file from a site file (default: the\n\
         embedded default site) and validates it. Exit: 0 ok, 1 invalid, 2 usage."
    );
    ExitCode::from(2)
}
