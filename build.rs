//! Release binaries carry no unwind tables, and share one segment for
//! code and constants (see below). No unwind tables: tend is built with
//! `panic = "abort"`, so `.eh_frame` (about 105 KB) and `.eh_frame_hdr`
//! (16 KB) are only ever read to print a backtrace on the way to abort.
//! Without them that backtrace is empty, while the panic message and the
//! abort stay as they are. The linker script keeps only the start and end
//! markers crtbegin.o and crtend.o put there (crtbegin registers the table
//! at start-up, and an empty one is a valid table). Test builds keep
//! everything: their harness unwinds to report a failing test.
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let release = std::env::var("PROFILE").as_deref() == Ok("release");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux");
    let musl = std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("musl");
    if !(release && linux) {
        return;
    }
    println!("cargo:rustc-link-arg-bins=-Wl,--no-eh-frame-hdr");
    // One read-only segment with the code instead of the code in a segment
    // of its own, each page-aligned: up to two pages of padding less
    // (8 KB today). The constants and the ELF header are then mapped
    // executable too: the same trade as the non-PIE build (.cargo/
    // config.toml), size over a hardening that a 1 MB init gains little by.
    println!("cargo:rustc-link-arg-bins=-Wl,-z,noseparate-code");
    if musl && let Some(out) = std::env::var_os("OUT_DIR") {
        let script = PathBuf::from(out).join("no-unwind-tables.ld");
        let keep = "EXCLUDE_FILE(*crtbegin*.o *crtend*.o)";
        let text = format!(
            "SECTIONS {{ /DISCARD/ : {{ {keep} *(.eh_frame) {keep} *(.eh_frame.*) \
             *(.gcc_except_table) *(.gcc_except_table.*) }} }}\nINSERT BEFORE .rodata;\n"
        );
        if std::fs::write(&script, text).is_ok() {
            println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", script.display());
        }
    }
}
