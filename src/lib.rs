//! The command-line definition, shared by the `stsexec` binary and the generation of its
//! completions and man page (`tests/integration/cases/generated.rs`).

pub mod cli;
