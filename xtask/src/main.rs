//! `cargo xtask`: the only automation entry point (placeholder).
fn main() {
    println!("xtask");
}
