//! One integration-test binary: the built stsexec, run in a temp HOME with a scrubbed
//! environment against moto's STS server, the AWS CLI and a fault-injecting STS server.

mod cases;
mod support;
