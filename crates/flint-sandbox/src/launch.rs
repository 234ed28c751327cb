//! How the cloned child gets started. [`Launch`] is the seam; [`InProcess`] clones from
//! flint itself (design (a) of the crate docs), the spawn helper (`helper.rs`, design (c))
//! asks a small single-threaded process to do it. Both end in [`clone_child`].
//!
//! Every clone happens on the one spawner thread ([`on_spawner_thread`]): the child's init
//! sets `PR_SET_PDEATHSIG(SIGKILL)` so that every sandbox dies with flint (no orphaned
//! environments after a crash), and the kernel sends that signal when the *thread* that
//! created the child exits, not the process. Cloning from a tokio `spawn_blocking` worker
//! would kill the sandbox when that worker retires after 10 s idle. The same holds for the
//! spawn helper, whose children have the spawner thread as their parent (`CLONE_PARENT`).

use std::fmt::Debug;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::{OnceLock, mpsc};

use parking_lot::Mutex;

use crate::child;
use crate::error::{Result, SandboxError};
use crate::plan::{ChildFds, ChildPlan, PlanData};
use crate::sys::linux_host;
use crate::sys::seam::Linux;

/// Starts the child of one sandbox: clones it with `plan` and `fds` (the parent's descriptor
/// numbers) and returns its pid and pidfd.
pub(crate) trait Launch: Send + Sync + Debug {
    fn launch(&self, plan: &PlanData, fds: &ChildFds) -> Result<(i32, OwnedFd)>;
}

/// Clones the child from this process, on the spawner thread.
#[derive(Debug)]
pub(crate) struct InProcess {
    /// The compiled seccomp policy, copied into every plan.
    filters: Vec<seccompiler::BpfProgram>,
}

impl InProcess {
    pub(crate) fn new(filters: Vec<seccompiler::BpfProgram>) -> Self {
        Self { filters }
    }
}

impl Launch for InProcess {
    fn launch(&self, plan: &PlanData, fds: &ChildFds) -> Result<(i32, OwnedFd)> {
        let child_plan = plan.to_child_plan(*fds, self.filters.clone())?;
        let ptr = PlanPtr(&child_plan);
        let flags = plan.clone_flags;
        on_spawner_thread(move || {
            let ptr = ptr;
            // SAFETY: see `impl Send for PlanPtr`.
            clone_child(flags, unsafe { &*ptr.0 })
        })?
    }
}

/// `clone3` of a child that runs [`child::child_main`] on `plan` with the real syscalls.
pub(crate) fn clone_child(flags: u64, plan: &ChildPlan) -> Result<(i32, OwnedFd)> {
    // SAFETY: the child only runs child_main, which makes raw syscalls (through the
    // zero-sized Linux) on the plan prepared before the clone, allocates nothing and never
    // returns (see child/mod.rs for why that is sound in a threaded process).
    unsafe { linux_host::clone3(flags, || child::child_main(&Linux, plan)) }.map_err(|e| {
        SandboxError::Sys {
            op: "clone3",
            source: e,
        }
    })
}

/// Raw plan pointer that may cross to the spawner thread.
struct PlanPtr(*const ChildPlan);

// SAFETY: the ChildPlan behind the pointer is owned by the thread that sends the job; that
// thread blocks until the spawner has run the job, so the pointer is valid whenever it is
// dereferenced, and the plan is only read.
unsafe impl Send for PlanPtr {}

type SpawnerJob = Box<dyn FnOnce() + Send>;

/// Runs `f` on the one dedicated, never-exiting spawner thread (see the module docs) and
/// waits for its result. The hop costs one channel round trip; only `clone3` itself is
/// serialized.
pub(crate) fn on_spawner_thread<R: Send + 'static>(
    f: impl FnOnce() -> R + Send + 'static,
) -> Result<R> {
    static SPAWNER: OnceLock<Option<Mutex<mpsc::Sender<SpawnerJob>>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnerJob>();
        std::thread::Builder::new()
            .name("flint-sandbox-spawner".into())
            .spawn(move || {
                for job in rx {
                    job();
                }
            })
            .ok()
            .map(|_| Mutex::new(tx))
    });
    let gone = || SandboxError::Sys {
        op: "spawner thread",
        source: io::Error::other("spawner thread is gone"),
    };
    let spawner = spawner.as_ref().ok_or_else(gone)?;
    let (reply, rx) = mpsc::sync_channel(1);
    let job: SpawnerJob = Box::new(move || {
        let _ = reply.send(f());
    });
    spawner.lock().send(job).map_err(|_| gone())?;
    rx.recv().map_err(|_| gone())
}
