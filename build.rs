//! Release binaries are linked without `.eh_frame_hdr` (16 KB). tend is
//! built with `panic = "abort"`: the unwind tables are only ever read to
//! print a backtrace on the way to abort, and without the header that
//! backtrace is empty while the panic message and the abort stay as they
//! are. Test builds keep it: their harness unwinds to report a failing
//! test.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let release = std::env::var("PROFILE").as_deref() == Ok("release");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux");
    if release && linux {
        println!("cargo:rustc-link-arg-bins=-Wl,--no-eh-frame-hdr");
    }
}
