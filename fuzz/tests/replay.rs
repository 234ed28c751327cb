//! Runs every target's checks over its committed inputs (`seeds/<target>/` and
//! `regressions/<target>/`) on the stable toolchain, without a fuzzing engine, so that
//! `cargo test --manifest-path fuzz/Cargo.toml` guards fixed bugs in CI.

use std::fs;
use std::path::Path;

#[test]
fn replay_committed_inputs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (name, run) in flint_fuzz::TARGETS {
        let mut replayed = 0;
        for dir in ["seeds", "regressions"] {
            let Ok(entries) = fs::read_dir(root.join(dir).join(name)) else {
                continue;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                if path
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                {
                    continue;
                }
                let data = fs::read(&path).unwrap();
                eprintln!("{name}: {}", path.display());
                run(&data);
                replayed += 1;
            }
        }
        assert!(replayed > 0, "no committed inputs for target {name}");
    }
}
