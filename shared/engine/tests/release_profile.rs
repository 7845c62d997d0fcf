//! The sender catches a panic in one message and goes on with the others
//! (`a_panic_while_sending_one_message_fails_it_loudly_and_the_tick_goes_on` in `sending.rs`).
//! That only holds in a binary built to unwind. Tests always unwind, so this checks the profile
//! the Lambda binaries are built with: `cargo lambda build --release` (what `sam build` runs)
//! sets `panic = "abort"` unless the workspace's release profile says otherwise.

#[test]
fn lambda_release_builds_unwind_so_one_panicking_message_does_not_end_the_tick() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.toml");
    let manifest: toml::Table = std::fs::read_to_string(path).unwrap().parse().unwrap();
    let panic = manifest["profile"]["release"]
        .get("panic")
        .and_then(|v| v.as_str());
    assert_eq!(
        panic,
        Some("unwind"),
        "[profile.release] must say panic = \"unwind\": cargo-lambda defaults to abort, which ends the whole tick at the first panic"
    );
}
