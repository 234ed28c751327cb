//! Warm invoke round trips through each bootstrap, against the mock API.
//! Not a benchmark (that lives with the project's bench command); it guards
//! against pathologies such as a new connection per request or Nagle stalls
//! (tens of milliseconds per invoke).

mod common;

use common::*;
use std::time::{Duration, Instant};

fn measure(p: &Proc) -> Duration {
    for _ in 0..20 {
        p.invoke("{}");
    }
    let n = 200;
    let start = Instant::now();
    for _ in 0..n {
        assert_eq!(p.invoke(r#"{"k":"v"}"#).kind(), "response");
    }
    start.elapsed() / n
}

#[test]
fn cold_start_to_first_next() {
    // Printed, not asserted: start-up time of interpreter + bootstrap +
    // trivial handler until the runtime blocks in /next.
    for (rt, file, code) in [
        ("python3.12", "app.py", "def handler(e, c):\n    return e\n"),
        (
            "nodejs20.x",
            "app.mjs",
            "export const handler = async (e) => e;\n",
        ),
    ] {
        if rt.starts_with("python") {
            require_python();
        } else {
            require_node();
        }
        let start = Instant::now();
        let p = Proc::start(rt, task("cold", &[(file, code)]), "app.handler");
        p.api.wait_next_calls(1);
        eprintln!("{rt}: spawn to first /next {:?}", start.elapsed());
    }
}

#[test]
fn warm_invokes_stay_fast_and_on_one_connection() {
    require_python();
    require_node();
    for (rt, tag, file, code, handler) in [
        (
            "python3.12",
            "warm-py",
            "app.py",
            "def handler(e, c):\n    return e\n",
            "app.handler",
        ),
        (
            "nodejs20.x",
            "warm-node",
            "index.mjs",
            "export const handler = async (e) => e;\n",
            "index.handler",
        ),
    ] {
        let p = Proc::start(rt, task(tag, &[(file, code)]), handler);
        let per = measure(&p);
        eprintln!("{rt} warm round trip: {per:?}");
        assert_eq!(p.api.connections(), 1);
        assert!(per < Duration::from_millis(25), "{per:?}");
    }
}
