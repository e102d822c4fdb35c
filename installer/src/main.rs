//! `outpost-installer`: the main program of the Outpost live system.
//!
//! Without arguments it is the unattended installer started by the
//! initramfs `/init`: find the answer file, plan, print the plan, install,
//! finish. With `--dry-run --ks FILE --disk IMAGE…` it only prints the plan
//! for disk image files, so an admin can check an answer file on a workstation.
//!
//! Exit codes: 0 success; 1 install failed (the initramfs then offers a
//! rescue shell); 2 the answer file is missing or invalid, or the plan was
//! refused (nothing was written).

use anyhow::{Context, Result};
use clap::Parser;
use outpost_installer::{disk, from_ks, plan};
use std::path::PathBuf;
use std::process::ExitCode;

/// Outpost's unattended installer.
#[derive(Debug, Parser)]
#[command(name = "outpost-installer", version, about)]
struct Args {
    /// Only print the plan; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// The answer file (default: found from `inst.ks=` on the kernel command line).
    #[arg(long, value_name = "FILE")]
    ks: Option<PathBuf>,
    /// A disk image file to plan for, instead of the machine's disks (repeatable).
    #[arg(long = "disk", value_name = "IMAGE")]
    disks: Vec<PathBuf>,
    /// Memory in MiB used to size swap (default: this machine's).
    #[arg(long, value_name = "MIB")]
    ram_mib: Option<u64>,
    /// Print the plan as JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Install from this media directory (holding payload/ and SHA256SUMS)
    /// onto the `--disk` block devices instead of finding everything from the
    /// kernel command line. For testing the install on loop devices.
    #[arg(long, value_name = "DIR", requires = "ks")]
    media: Option<PathBuf>,
}

/// Total memory from `/proc/meminfo`, in MiB (1024 when unknown).
fn ram_mib() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(1024, |kib| kib / 1024)
}

fn dry_run(args: &Args) -> Result<ExitCode> {
    let ks_path = args.ks.as_ref().context("--dry-run needs --ks FILE")?;
    let parsed = match outpost_kickstart::parse_file(ks_path) {
        Ok(p) => p,
        Err(diags) => {
            eprintln!("{diags}");
            return Ok(ExitCode::from(2));
        }
    };
    for w in &parsed.warnings {
        eprintln!("{w}");
    }
    let disks = if args.disks.is_empty() {
        disk::discover_sysfs("/sys/block".as_ref(), "/dev".as_ref())
            .context("listing disks in /sys/block")?
    } else {
        disk::from_image_files(&args.disks).context("reading the disk image files")?
    };
    let spec = from_ks::storage_spec(&parsed.kickstart);
    match plan::make_plan(&spec, &disks, args.ram_mib.unwrap_or_else(ram_mib)) {
        Ok(p) if args.json => println!("{}", serde_json::to_string_pretty(&p)?),
        Ok(p) => print!("{p}"),
        Err(e) => {
            eprintln!("{}: error: {e}", ks_path.display());
            return Ok(ExitCode::from(2));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    println!("outpost-installer {}", env!("CARGO_PKG_VERSION"));
    let args = Args::parse();
    let result = if args.dry_run {
        dry_run(&args)
    } else if let Some(media) = &args.media {
        outpost_installer::install::run(outpost_installer::install::Options {
            ks: args.ks.clone(),
            media: Some(media.clone()),
            disks: args.disks.clone(),
            finish: false,
            cmdline: Default::default(),
        })
    } else {
        outpost_installer::install::run_live()
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("outpost-installer: error: {e:#}");
            ExitCode::from(1)
        }
    }
}
