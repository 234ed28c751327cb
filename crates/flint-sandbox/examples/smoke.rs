use std::io::Read;
use std::os::fd::OwnedFd;

fn main() {
    let sbx = flint_sandbox::Sandboxer::new(Default::default()).unwrap();
    println!("{}", sbx.host());
    let (mut r, w) = std::io::pipe().unwrap();
    let w2 = w.try_clone().unwrap();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut spec =
        flint_sandbox::SandboxSpec::new("smoke", "/tmp", args, OwnedFd::from(w), OwnedFd::from(w2));
    spec.env = flint_sandbox::lambda_base_env();
    let t = std::time::Instant::now();
    let mut sb = sbx.spawn(spec).unwrap();
    println!("spawned in {:?}", t.elapsed());
    let st = sb.wait().unwrap();
    let mut out = String::new();
    r.read_to_string(&mut out).unwrap();
    println!("{st:?} peak={:?}\n{out}", sb.memory_peak_bytes());
    sb.destroy().unwrap();
}
