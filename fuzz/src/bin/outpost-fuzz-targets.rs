//! Lists the fuzz targets, one `name<TAB>what it feeds` per line (read by
//! `cargo xtask fuzz --list` and `all`).

fn main() {
    for t in outpost_fuzz::TARGETS {
        println!("{}\t{}", t.name, t.about);
    }
}
