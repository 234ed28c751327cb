//! `zip_entries`: the same checks as [`zip_intake`](crate::zip_intake), on archives that are
//! always well-formed zips.
//!
//! Byte-level mutation mostly exercises the zip parser: a mutated file name or mode rarely
//! survives with a valid layout around it. This target lets libFuzzer pick a package *layout*
//! instead: entry names and symlink targets made of a few components (`a`, `b`, `.`, `..`, empty,
//! and arbitrary strings), entry types including FIFOs and raw modes, duplicate names. That
//! drives the path normalisation, the conflict rules and the symlink resolution (chains,
//! loops, links through links) far deeper than raw bytes would.

use arbitrary::{Arbitrary, Unstructured};

use crate::rawzip::{RawEntry, raw_zip};

#[derive(Arbitrary, Debug)]
enum Part {
    A,
    B,
    Dot,
    DotDot,
    Empty,
    Other(String),
}

impl Part {
    fn as_str(&self) -> &str {
        match self {
            Part::A => "a",
            Part::B => "b",
            Part::Dot => ".",
            Part::DotDot => "..",
            Part::Empty => "",
            Part::Other(s) => s,
        }
    }
}

#[derive(Arbitrary, Debug)]
struct PathSpec {
    absolute: bool,
    parts: Vec<Part>,
    trailing_slash: bool,
}

impl PathSpec {
    fn render(&self) -> String {
        let mut out = String::new();
        if self.absolute {
            out.push('/');
        }
        let parts: Vec<&str> = self.parts.iter().map(Part::as_str).collect();
        out.push_str(&parts.join("/"));
        if self.trailing_slash {
            out.push('/');
        }
        out
    }
}

#[derive(Arbitrary, Debug)]
enum Kind {
    File(Vec<u8>),
    Dir,
    Symlink(PathSpec),
    Fifo,
    RawMode(u32, Vec<u8>),
    /// Made on DOS/Windows: no unix mode at all.
    Dos(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct EntrySpec {
    name: PathSpec,
    kind: Kind,
    permissions: u16,
}

pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(entries) = Vec::<EntrySpec>::arbitrary(&mut u) else {
        return;
    };
    let raw: Vec<RawEntry> = entries
        .iter()
        .map(|e| {
            let perm = u32::from(e.permissions) & 0o7777;
            let name = e.name.render().into_bytes();
            match &e.kind {
                Kind::File(data) => RawEntry::stored(name, data, 0o100_000 | perm, true),
                Kind::Dir => RawEntry::stored(name, b"", 0o040_000 | perm, true),
                Kind::Symlink(target) => {
                    RawEntry::stored(name, target.render().as_bytes(), 0o120_000 | perm, true)
                }
                Kind::Fifo => RawEntry::stored(name, b"", 0o010_000 | perm, true),
                Kind::RawMode(mode, data) => RawEntry::stored(name, data, *mode >> 16, true),
                Kind::Dos(data) => RawEntry::stored(name, data, 0, false),
            }
        })
        .collect();
    crate::zip_intake::run(&raw_zip(&raw));
}
