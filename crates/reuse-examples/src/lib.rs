#![doc = include_str!("../../../docs/REUSING.md")]
//!
//! This crate has no code: it exists so that `cargo test` compiles and runs every example of
//! `docs/REUSING.md` against the current domain crates.
