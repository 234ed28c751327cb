//! Smoke test: `flint-bench --quick` runs end to end against the flint
//! binary the workspace build produced, and reports every row with its
//! floor.

use std::path::PathBuf;
use std::process::Command;

/// `target/<profile>/flint`, next to this test's `deps/` directory.
fn flint_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FLINT_BIN") {
        return Some(PathBuf::from(p));
    }
    let exe = std::env::current_exe().ok()?;
    let profile_dir = exe.parent()?.parent()?;
    let bin = profile_dir.join("flint");
    bin.exists().then_some(bin)
}

#[test]
fn quick_run_reports_every_row_against_its_floor() {
    let Some(flint) = flint_bin() else {
        eprintln!("skipping: no flint binary built next to this test (set FLINT_BIN)");
        return;
    };
    let out = Command::new(env!("CARGO_BIN_EXE_flint-bench"))
        .args([
            "--quick",
            "--duration",
            "0.1",
            "--functions",
            "60",
            "--create-iterations",
            "2",
            "--section",
            "floors",
            "--section",
            "control-plane",
            "--json",
        ])
        .arg("--flint-bin")
        .arg(&flint)
        .output()
        .expect("running flint-bench");
    assert!(
        out.status.success(),
        "flint-bench failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let rows = report["rows"].as_array().expect("rows");
    let ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    for want in [
        "floor.http_rtt",
        "floor.http_upload_1mb",
        "floor.fork_exec",
        "control.get_function",
        "control.get_function_configuration",
        "control.list_functions",
        "control.create_function_1mb",
    ] {
        assert!(ids.contains(&want), "missing row {want} in {ids:?}");
    }
    for r in rows {
        assert!(r["n"].as_u64().unwrap() >= 1, "{r}");
        assert!(r["p50_us"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["p99_us"].as_f64().unwrap() >= r["p50_us"].as_f64().unwrap());
        if let Some(floor) = r["floor"].as_str() {
            assert!(
                ids.contains(&floor),
                "{} points at missing floor {floor}",
                r["id"]
            );
            assert!(r["p50_vs_floor"].as_f64().unwrap() > 0.0, "{r}");
        }
    }
    let control: Vec<_> = rows
        .iter()
        .filter(|r| r["id"].as_str().unwrap().starts_with("control."))
        .collect();
    assert!(control.iter().all(|r| r["floor"].is_string()));
}
