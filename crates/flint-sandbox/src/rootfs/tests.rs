use super::*;
use std::os::fd::OwnedFd;

fn spec() -> SandboxSpec {
    let fd = || OwnedFd::from(fs::File::open("/dev/null").unwrap());
    let mut s = SandboxSpec::new(
        "e",
        "/srv/fn/code",
        vec!["/var/task/bootstrap".into()],
        fd(),
        fd(),
    );
    s.opt_dir = Some("/srv/fn/layers".into());
    s.extra_ro_binds.push((
        "/root/.pyenv/versions/3.12.1".into(),
        "/root/.pyenv/versions/3.12.1".into(),
    ));
    s.extra_ro_binds
        .push(("/srv/conf.json".into(), "/config/conf.json".into()));
    s
}

fn facts() -> HostFacts {
    HostFacts {
        top_level: vec![
            ("usr".into(), TopEntry::Dir),
            ("bin".into(), TopEntry::Symlink("usr/bin".into())),
        ],
        ld_so_cache: Some(b"cache".to_vec()),
        resolv_conf: None,
        openssl_cnf: None,
        ssl_certs: true,
        alternatives: false,
    }
}

#[test]
fn skeleton_has_mount_points_and_no_secrets() {
    let plan = plan_root(&facts(), &spec(), &[false, true]);
    let has_dir = |p: &str| plan.skeleton.contains(&SkelEntry::Dir(p.into()));
    for d in [
        "usr",
        "var",
        "var/task",
        "opt",
        "tmp",
        "proc",
        "dev",
        "dev/shm",
        "etc/ssl/certs",
        "root/.pyenv/versions/3.12.1",
        "config",
    ] {
        assert!(has_dir(d), "missing dir {d}");
    }
    assert!(
        plan.skeleton
            .contains(&SkelEntry::Symlink("bin".into(), "usr/bin".into()))
    );
    assert!(plan.skeleton.contains(&SkelEntry::Symlink(
        "var/node_modules".into(),
        "runtime/node_modules".into()
    )));
    assert!(
        plan.skeleton
            .contains(&SkelEntry::File("config/conf.json".into(), vec![]))
    );
    assert!(
        plan.skeleton
            .contains(&SkelEntry::File("dev/null".into(), vec![]))
    );
    let names: Vec<String> = plan.skeleton.iter().map(|e| format!("{e:?}")).collect();
    for secret in ["shadow", "gshadow", "ssl/private", "home", "work"] {
        assert!(
            !names.iter().any(|n| n.contains(secret)),
            "{secret} in skeleton"
        );
    }
    let passwd = plan.skeleton.iter().find_map(|e| match e {
        SkelEntry::File(p, c) if p == Path::new("etc/passwd") => {
            Some(String::from_utf8(c.clone()).unwrap())
        }
        _ => None,
    });
    assert!(passwd.unwrap().contains("sbx_user1051:x:993:990:"));
}

#[test]
fn dirs_come_before_their_children() {
    let plan = plan_root(&facts(), &spec(), &[false, true]);
    let mut seen = BTreeSet::new();
    for e in &plan.skeleton {
        let p = match e {
            SkelEntry::Dir(p) | SkelEntry::File(p, _) | SkelEntry::Symlink(p, _) => p,
        };
        if let Some(parent) = p.parent().filter(|p| !p.as_os_str().is_empty()) {
            assert!(
                seen.contains(parent),
                "{} before {}",
                p.display(),
                parent.display()
            );
        }
        seen.insert(p.clone());
    }
}

#[test]
fn binds_are_read_only_and_proc_precedes_pivot() {
    let plan = plan_root(&facts(), &spec(), &[false, true]);
    assert!(plan.ro_binds.contains(&Bind {
        src: "/srv/fn/code".into(),
        dst: "/var/task".into()
    }));
    assert!(plan.ro_binds.contains(&Bind {
        src: "/srv/fn/layers".into(),
        dst: "/opt".into()
    }));
    let memory = TmpMount::Memory { size_mb: 512 };
    let steps = mount_steps(&plan, Path::new("/run/s/roots/k"), &memory, |_| {
        libc::MS_NOEXEC
    });
    assert_eq!(steps[0].flags, libc::MS_REC | libc::MS_PRIVATE);
    let task: Vec<_> = steps
        .iter()
        .filter(|s| s.target == Path::new("/run/s/roots/k/var/task"))
        .collect();
    assert_eq!(task.len(), 2);
    assert_eq!(task[0].flags, libc::MS_BIND, "bind is not recursive");
    assert!(task[1].flags & libc::MS_RDONLY != 0 && task[1].flags & libc::MS_NOEXEC != 0);
    let tmp = steps.iter().find(|s| s.label == "/tmp").unwrap();
    assert_eq!(tmp.data.as_deref(), Some("size=512m,mode=1777"));
    assert_eq!(steps.last().unwrap().fstype, Some("proc"));
}

#[test]
fn a_disk_tmp_is_bound_from_flints_mount() {
    let plan = plan_root(&facts(), &spec(), &[false, true]);
    let disk = TmpMount::Disk {
        host_dir: "/run/s/ephemeral/e".into(),
    };
    let steps = mount_steps(&plan, Path::new("/run/s/roots/k"), &disk, |_| 0);
    let tmp: Vec<_> = steps.iter().filter(|s| s.label == "/tmp").collect();
    assert_eq!(tmp.len(), 1);
    assert_eq!(tmp[0].src.as_deref(), Some(Path::new("/run/s/ephemeral/e")));
    assert_eq!(tmp[0].target, Path::new("/run/s/roots/k/tmp"));
    assert_eq!((tmp[0].flags, tmp[0].fstype), (libc::MS_BIND, None));
}

#[test]
fn a_prespawned_root_has_everything_but_the_code() {
    let plan = plan_root(&facts(), &spec(), &[false, true]);
    let bare = plan.clone().without_code();
    let dsts = |p: &RootPlan| p.ro_binds.iter().map(|b| b.dst.clone()).collect::<Vec<_>>();
    let mut want = dsts(&plan);
    want.retain(|d| d != Path::new("/var/task") && d != Path::new("/opt"));
    assert_eq!(dsts(&bare), want);
    assert_eq!(bare.ro_binds.len(), plan.ro_binds.len() - 2);
    // The mount points stay: the claim moves the code onto them.
    assert_eq!(bare.skeleton, plan.skeleton);
}

#[test]
fn statvfs_flag_mapping() {
    assert_eq!(flags_from_statvfs(libc::ST_RELATIME), libc::MS_RELATIME);
    assert_eq!(
        flags_from_statvfs(libc::ST_NOSUID | libc::ST_NOATIME),
        libc::MS_NOSUID | libc::MS_NOATIME
    );
    assert_eq!(flags_from_statvfs(0), libc::MS_STRICTATIME);
}

#[test]
fn skeleton_is_cached_by_content() {
    let dir = std::env::temp_dir().join(format!("flint-skel-test-{}", std::process::id()));
    let plan = plan_root(&facts(), &spec(), &[false, true]);
    let a = materialize(&dir, &plan.skeleton).unwrap();
    let b = materialize(&dir, &plan.skeleton).unwrap();
    assert_eq!(a, b);
    assert_eq!(fs::read_link(a.join("bin")).unwrap(), Path::new("usr/bin"));
    assert!(a.join("var/task").is_dir());
    let mut other = spec();
    other.uid = 1000;
    let c = materialize(&dir, &plan_root(&facts(), &other, &[false, true]).skeleton).unwrap();
    assert_ne!(a, c);
    fs::remove_dir_all(dir).unwrap();
}
