//! The floors every other figure is read against: a loopback HTTP round trip, a loopback
//! upload the size of a CreateFunction request, fork+exec.

use crate::control_plane::{create_body, random_zip};
use crate::http::{Budget, Op, measure};
use crate::sections::{Ctx, FLOOR_FORK_EXEC, FLOOR_HTTP_RTT, FLOOR_HTTP_UPLOAD, Section};
use crate::stats::Summary;
use anyhow::bail;
use hyper::StatusCode;
use std::time::{Duration, Instant};

pub async fn run_floors(ctx: &mut Ctx) -> anyhow::Result<()> {
    let s = ctx.settings.clone();
    let section = Section::Floors.title();

    let rtt = measure(
        ctx.floor.addr,
        s.budget(s.iterations),
        StatusCode::OK,
        |_| Op::get("/2015-03-31/functions/floor"),
    )
    .await?;
    ctx.push_row(
        section,
        FLOOR_HTTP_RTT,
        "loopback HTTP round trip (GET, 2-byte answer)".into(),
        rtt,
        None,
    );

    // The same body size as a CreateFunction with a 1 MB package.
    let body = create_body("floor", &random_zip(s.package_bytes));
    let size = body.len();
    let upload = measure(
        ctx.floor.addr,
        s.budget(s.iterations),
        StatusCode::OK,
        move |_| Op::post("/2015-03-31/functions", body.clone()),
    )
    .await?;
    ctx.push_row(
        section,
        FLOOR_HTTP_UPLOAD,
        format!(
            "loopback HTTP POST of a {:.2} MB body",
            size as f64 / 1_000_000.0
        ),
        upload,
        None,
    );

    let budget = s.budget(s.iterations);
    let fork = tokio::task::spawn_blocking(move || fork_exec_true(budget)).await??;
    ctx.push_row(
        section,
        FLOOR_FORK_EXEC,
        "fork+exec+wait of /bin/true (libc fork, execv, waitpid)".into(),
        fork,
        None,
    );
    let spawn = tokio::task::spawn_blocking(move || spawn_true(budget)).await??;
    ctx.push_row(
        section,
        "floor.spawn",
        "std::process::Command /bin/true (posix_spawn) + wait".into(),
        spawn,
        Some(FLOOR_FORK_EXEC),
    );
    Ok(())
}

/// fork(2) + execv("/bin/true") + waitpid: the least a new process costs.
fn fork_exec_true(budget: Budget) -> anyhow::Result<Summary> {
    let path = std::ffi::CString::new("/bin/true").expect("no NUL");
    let argv = [path.as_ptr(), std::ptr::null()];
    let once = || -> anyhow::Result<Duration> {
        let t = Instant::now();
        // SAFETY: the child only calls async-signal-safe execv and _exit
        // on data prepared before the fork.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            bail!("fork failed: {}", std::io::Error::last_os_error());
        }
        if pid == 0 {
            // SAFETY: in the forked child: `path` and `argv` were built before
            // the fork and stay alive; execv and _exit are async-signal-safe.
            unsafe {
                libc::execv(path.as_ptr(), argv.as_ptr());
                libc::_exit(127);
            }
        }
        let mut status = 0;
        // SAFETY: waiting for the child just forked.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        let elapsed = t.elapsed();
        if r != pid || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
            bail!("/bin/true failed: waitpid={r} status={status:#x}");
        }
        Ok(elapsed)
    };
    timed_loop(budget, once)
}

fn spawn_true(budget: Budget) -> anyhow::Result<Summary> {
    timed_loop(budget, || {
        let t = Instant::now();
        let status = std::process::Command::new("/bin/true")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()?;
        let elapsed = t.elapsed();
        if !status.success() {
            bail!("/bin/true failed: {status}");
        }
        Ok(elapsed)
    })
}

/// A single-threaded measuring loop for blocking operations.
fn timed_loop(
    budget: Budget,
    mut once: impl FnMut() -> anyhow::Result<Duration>,
) -> anyhow::Result<Summary> {
    for _ in 0..budget.warmup {
        once()?;
    }
    let start = Instant::now();
    let mut samples = Vec::new();
    while samples.len() < budget.max_ops && start.elapsed() < budget.duration {
        samples.push(once()?);
    }
    let busy = samples.iter().sum();
    Ok(Summary::from_samples(samples, busy))
}
