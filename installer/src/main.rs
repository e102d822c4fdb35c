//! The Outpost installer (placeholder until the installer lands).
fn main() {
    println!("outpost-installer {}", env!("CARGO_PKG_VERSION"));
}
